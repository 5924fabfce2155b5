"""A drift baseline built from logged traffic (the same kind of traffic the server sees): `asr monitor
baseline` reads a request-log folder, every day's clips with audio, no reference needed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

import vad
from asr_service.cli import main
from asr_service.client import build_baseline
from asr_service.errors import AsrError
from asr_service.monitoring import Baseline
from asr_service.request_log import RequestLog
from tests.asr_service.request_log.conftest import NOW, clip
from tests.paths import REPO_ROOT

JFK = vad.read_audio(REPO_ROOT / "asr_service" / "data" / "jfk.wav")


def test_a_baseline_from_every_day_of_the_request_log(make_log: Callable[..., RequestLog], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    log = make_log()
    pieces = [JFK[i:i + 48_000].astype("<i2").tobytes() for i in range(0, 96_000, 48_000)]  # two 3 s pieces
    for day in range(2):
        for index, piece in enumerate(pieces):
            assert log.submit(clip(f"req-{day}", index, at=NOW - timedelta(days=day), pcm=piece))
    assert log.submit(clip("req-text", 0, audio=False))  # consent "results": no audio, left out
    log.stop()
    baseline = build_baseline(tmp_path / "log", transcribe=False)
    assert baseline.clips >= 4  # each 3 s piece of speech is one clip or more
    assert baseline.features["rms_dbfs"] and baseline.null_rate is None  # no model asked: no null rate
    out = tmp_path / "baseline.json"
    assert main(["monitor", "baseline", str(tmp_path / "log"), "-o", str(out), "--no-model"]) == 0
    assert Baseline.load(out).clips == baseline.clips
    assert "only" in capsys.readouterr().err  # a handful of clips: the small-baseline warning
    not_a_log = tmp_path / "elsewhere"
    not_a_log.mkdir()
    with pytest.raises(AsrError, match="not a request log"):
        build_baseline(not_a_log, transcribe=False)
