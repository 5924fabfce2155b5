"""The embedded model through `asr eval` on a few real utterances of the shared speech."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asr_service.cli import main
from tests.asr_service.evaluation.manifests import write_manifest


@pytest.mark.slow
@pytest.mark.shared_data
def test_embedded_model_on_short_shared_clips(
    shared_speech: Path, speech_manifest: list[dict[str, object]], tmp_path: Path
) -> None:
    # six short read/command clips, with made-up recording dates so that --since has something to select
    short = [r for r in speech_manifest if float(str(r["duration"])) <= 4.0][:6]
    rows = [{**r, "audio": str(shared_speech / str(r["audio"])), "recorded_at": f"2025-06-{20 + i:02d}"}
            for i, r in enumerate(short)]
    rows.append({**short[0], "audio": str(shared_speech / str(short[0]["audio"])), "utt_id": "old",
                 "recorded_at": "2024-01-01"})
    manifest = write_manifest(tmp_path / "recent.jsonl", rows)
    out = tmp_path / "eval"
    code = main(["eval", str(manifest), "--since", "3650d", "--by", "tags", "--out", str(out), "--no-progress"])
    assert code == 0
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    summary = data["summary"]
    assert summary["scored_utterances"] == 7  # the 2024 row is within ten years too
    assert summary["wer"] is not None and summary["wer"] < 0.35  # tiny.en does far better than this on read speech
    assert summary["wer_ci95"][0] <= summary["wer"] <= summary["wer_ci95"][1]
    assert 0 < summary["latency_p50_ms"] <= summary["latency_p95_ms"] < 5000
    assert data["model"]["model_version"]
    assert all(u["clips"] for u in data["utterances"])
