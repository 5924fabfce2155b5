"""`LogEntry` checks, and the rows it becomes: readable by the evaluation manifest and by `asr label import`."""

from __future__ import annotations

import json
import wave
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

import asr_service.request_log as request_log
from asr_service.evaluation.manifest import load_manifest
from asr_service.request_log import RequestLog, read_rows
from labeling._clips import read_clips
from tests.asr_service.request_log.conftest import NOW, clip, feedback, pcm


def test_the_public_surface_is_pinned_and_sorted() -> None:
    assert request_log.__all__ == sorted(request_log.__all__)
    assert set(request_log.__all__) == {"LogEntry", "PurgeResult", "RequestLog", "StoreStats", "purge", "read_rows",
                                        "redact", "sampling_reason", "store_stats"}
    for name in request_log.__all__:
        assert getattr(request_log, name).__doc__


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"recorded_at": datetime(2025, 3, 14, 9, 30)}, "timezone-aware"),
        ({"recorded_at": datetime(2025, 3, 14, 9, 30, tzinfo=timezone(timedelta(hours=1)))}, "UTC"),
        ({"consent": "results"}, "only allowed with consent 'audio'"),  # pcm without audio consent
        ({"pcm": b"\x00\x01\x02"}, "even number of bytes"),
        ({"kind": "result"}, "kind"),
        ({"consent": "everything"}, "consent"),
        ({"clip_index": -1}, "clip_index"),
        ({"sample_rate_hz": 0}, "sample_rate_hz"),
    ],
)
def test_a_wrong_entry_is_refused_when_built_naming_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(clip(), **change)


def _store(make_log: Callable[..., RequestLog], tmp_path: Path) -> Path:
    log = make_log()
    entries = [clip("req-1", 0), clip("req-1", 1, text="and then right", confidence=0.2),
               clip("req-2", 0, client_tags={"device": "iphone-15", "locale": "en-GB"}),
               clip("req-3", 0, audio=False, text="results only"), feedback("req-1", 0)]
    assert all(log.submit(entry) for entry in entries)
    log.stop()
    return tmp_path / "log" / "2025-03-14"


def test_a_clip_row_has_the_manifest_fields_and_the_flattened_client_tags(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    partition = _store(make_log, tmp_path)
    rows = [json.loads(line) for line in (partition / "manifest.jsonl").read_text().splitlines()]
    first = rows[0]
    assert first["audio"].startswith("audio/") and (partition / first["audio"]).is_file()
    assert first["utt_id"] == "req-1/0" and first["text"] == "turn left at the lights"
    assert first["reference"] is None
    assert first["recorded_at"] == "2025-03-14T09:30:00.000Z"
    assert datetime.fromisoformat(first["recorded_at"]) == NOW
    assert first["client_tags"] == {"device": "pixel-8", "app_version": "4.2"}
    assert (first["client_device"], first["client_app_version"]) == ("pixel-8", "4.2")
    assert first["audio_stats"]["duration_s"] == 0.5 and first["vad"]["speech_ratio"] == 0.8
    for key in ("confidence", "model_version", "model_id", "role", "request_id", "clip_id", "null_reason",
                "latency_ms", "consent", "subject_id", "sampled_because"):
        assert key in first
    assert rows[2]["client_locale"] == "en-GB"
    assert "audio" not in rows[3] and rows[3]["consent"] == "results"
    assert not any("results only" in p.read_bytes().decode("latin-1") for p in (partition / "audio").iterdir())
    with wave.open(str(partition / first["audio"])) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(wav.getnframes()) == pcm()


def test_the_feedback_row_names_its_clip(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    partition = _store(make_log, tmp_path)
    (row,) = [json.loads(line) for line in (partition / "feedback.jsonl").read_text().splitlines()]
    assert row == {"utt_id": "req-1/0", "request_id": "req-1", "clip_id": "c0", "clip_index": 0, "action": "edited",
                   "edited_text": "turn left at the light", "recorded_at": "2025-03-14T09:30:00.000Z",
                   "subject_id": "subject-1", "consent": "audio", "client_tags": {}}


def test_the_evaluation_manifest_loader_never_scores_a_logged_hypothesis(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    """A logged row's `text` is the model's output and its `reference` is empty: `asr eval` on the raw log
    must not score the model against itself; every row is a problem until reviewed and exported."""
    partition = _store(make_log, tmp_path)
    manifest = load_manifest(partition / "manifest.jsonl")
    assert manifest.utterances == ()
    reasons = [p.reason for p in manifest.problems]
    assert len(reasons) == 4 and sum("no reference yet" in r for r in reasons) == 3
    assert "no 'audio' path" in reasons  # the row without audio (consent "results")


def test_the_label_import_reads_a_manifest_of_clips_with_audio(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    log = make_log()
    for index in range(3):
        assert log.submit(clip("req-9", index, confidence=0.1 * index))
    log.stop()
    clips = read_clips(tmp_path / "log" / "2025-03-14" / "manifest.jsonl", document_root=tmp_path)
    assert [c.utt_id for c in clips] == ["req-9/0", "req-9/1", "req-9/2"]
    assert [c.text for c in clips] == ["turn left at the lights"] * 3
    assert clips[1].confidence == pytest.approx(0.1)
    assert all(c.audio_path.is_file() for c in clips)


def test_read_rows_adds_kind_partition_and_an_absolute_audio_path(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    _store(make_log, tmp_path)
    rows = list(read_rows(tmp_path / "log", kinds=("clip", "feedback")))
    assert [r["kind"] for r in rows] == ["clip"] * 4 + ["feedback"]
    assert {r["partition"] for r in rows} == {"2025-03-14"}
    assert Path(rows[0]["audio_path"]).is_absolute() and Path(rows[0]["audio_path"]).is_file()
    assert "audio_path" not in rows[3]
    assert [r["utt_id"] for r in read_rows(tmp_path / "log")] == ["req-1/0", "req-1/1", "req-2/0", "req-3/0"]


def test_non_finite_and_numpy_numbers_are_stored_as_valid_json(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    import numpy as np

    log = make_log()
    assert log.submit(clip(audio_stats={"rms_dbfs": float("-inf"), "duration_s": np.float32(0.5)},
                           confidence=np.float64(0.25), latency_ms=float("nan")))
    log.stop()
    (row,) = read_rows(tmp_path / "log")
    assert row["audio_stats"] == {"rms_dbfs": None, "duration_s": 0.5}
    assert row["confidence"] == 0.25 and row["latency_ms"] is None
    assert log.stats()["written"] == 1


def test_a_tag_never_overwrites_a_field(make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    log = make_log()
    assert log.submit(clip(client_tags={"tags": "x", "device": "d"}))
    log.stop()
    (row,) = read_rows(tmp_path / "log")
    assert row["client_tags"] == {"tags": "x", "device": "d"} and row["client_device"] == "d"


def test_redaction_applies_to_stored_texts_only_when_asked(
        make_log: Callable[..., RequestLog], tmp_path: Path) -> None:
    said = "call me on 555-123-4567 or mail jo@example.org"
    plain = make_log(tmp_path / "plain")
    redacting = make_log(tmp_path / "redacted", redact=True)
    for log in (plain, redacting):
        assert log.submit(clip(text=said, at=NOW.astimezone(UTC)))
        assert log.submit(feedback(edited_text=said))
        log.stop()
    assert [r.get("text", r.get("edited_text")) for r in read_rows(tmp_path / "plain", kinds=("clip", "feedback"))] \
        == [said, said]
    assert [r.get("text", r.get("edited_text")) for r in read_rows(tmp_path / "redacted",
                                                                   kinds=("clip", "feedback"))] \
        == ["call me on [phone] or mail [email]"] * 2
