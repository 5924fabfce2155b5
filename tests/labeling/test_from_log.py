"""The review queue's source (`asr label import --from-log`), offline: which logged clips are picked, in
what order, with the user's edit as `user_text`, and what is left out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labeling._errors import InputError
from labeling._from_log import LogSelection, log_review_rows, parse_age

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def write_day(root: Path, day: str, rows: list[dict[str, object]], feedback: list[dict[str, object]] = ()) -> None:
    partition = root / day
    (partition / "audio").mkdir(parents=True, exist_ok=True)
    for row in rows:
        if row.get("audio"):
            (partition / str(row["audio"])).write_bytes(b"RIFF")
    (partition / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if feedback:
        (partition / "feedback.jsonl").write_text("".join(json.dumps(f) + "\n" for f in feedback))


def row(utt: str, day: str, confidence: float, text: str, *, audio: bool = True, **extra: object) -> dict[str, object]:
    return {"utt_id": utt, "audio": f"audio/{utt.replace('/', '_')}.wav" if audio else None, "text": text,
            "reference": None, "confidence": confidence, "model_version": "tiny.en-1",
            "recorded_at": f"{day}T09:30:00Z",
            "consent": "audio" if audio else "results", "subject_id": "u-17", "client_tags": {"device": "pixel-7"},
            "client_device": "pixel-7", "audio_stats": {"duration_s": 2.1}, "latency_ms": 120.0, **extra}


@pytest.fixture()
def log(tmp_path: Path) -> Path:
    root = tmp_path / "log"
    write_day(root, "2026-11-20", [row("old/0", "2026-11-20", 0.2, "turn of the lights")])
    write_day(root, "2026-12-05", [
        row("r1/0", "2026-12-05", 0.81, "set a timer for ten minutes"),
        row("r2/0", "2026-12-05", 0.35, "whats the whether in leeds"),
        row("r3/0", "2026-12-05", 0.0, "", null_reason="NO_SPEECH"),
        row("r4/0", "2026-12-05", 0.30, "text me when your here", audio=False),  # consent "results": no audio
    ], feedback=[
        {"utt_id": "r2/0", "action": "retried", "edited_text": ""},
        {"utt_id": "r2/0", "action": "edited", "edited_text": "What's the weather in Leeds?"},
    ])
    with (root / "2026-12-05" / "manifest.jsonl").open("a") as manifest:
        manifest.write('{"utt_id": "torn/0", "aud')  # a crash's torn tail
    write_day(root, "2026-12-06", [row("r5/0", "2026-12-06", 0.55, "book a table for for two at seven")])
    (root / "not-a-day").mkdir()
    return root


def test_least_confident_first_with_the_users_edit_and_only_clips_with_audio(log: Path) -> None:
    rows = log_review_rows(log, LogSelection())
    assert [r["utt_id"] for r in rows] == ["r3/0", "old/0", "r2/0", "r5/0", "r1/0"]
    edited = next(r for r in rows if r["utt_id"] == "r2/0")
    assert edited["user_text"] == "What's the weather in Leeds?"
    assert Path(edited["audio"]).is_absolute() and Path(edited["audio"]).exists()
    assert all("reference" not in r and "audio_stats" not in r for r in rows)  # not a reference, not task data
    assert edited["client_device"] == "pixel-7" and edited["subject_id"] == "u-17"


def test_since_confidence_and_limit(log: Path) -> None:
    recent = log_review_rows(log, LogSelection(since=NOW - timedelta(days=7)))
    assert "old/0" not in {r["utt_id"] for r in recent}
    unsure = log_review_rows(log, LogSelection(confidence_below=0.6))
    assert [r["utt_id"] for r in unsure] == ["r3/0", "old/0", "r2/0", "r5/0"]  # the null stays: no text
    assert [r["utt_id"] for r in log_review_rows(log, LogSelection(limit=2))] == ["r3/0", "old/0"]


def test_bad_input_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        log_review_rows(tmp_path / "missing", LogSelection())
    for bad in ("7", "-3d", "1y", "soon"):
        with pytest.raises(InputError, match="positive age"):
            parse_age(bad)
    assert parse_age("36h") == timedelta(hours=36) and parse_age("2w") == timedelta(days=14)
