"""Manifest rows and their problems, date filtering with an injected clock, and slicing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from asr_service.evaluation import DateWindow, SelectionError, load_manifest, select, slice_values
from asr_service.evaluation.selection import NO_VALUE, check_slice_keys, parse_since
from tests.asr_service.evaluation.manifests import write_manifest

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def _clock() -> datetime:
    return NOW


@pytest.fixture()
def dated(tmp_path: Path) -> Path:
    for name in ("a.wav", "b.wav", "c.wav", "d.wav", "e.wav"):
        (tmp_path / name).write_bytes(b"RIFF")  # existence is all the manifest checks
    return write_manifest(tmp_path / "m.jsonl", [
        {"audio": "a.wav", "text": "one", "recorded_at": "2025-06-29", "tags": ["noisy", "male"], "device": "x1"},
        {"audio": "b.wav", "text": "two", "recorded_at": "2025-04-15T10:00:00+02:00", "tags": ["male"]},
        {"audio": "c.wav", "text": "three", "recorded_at": "2024-12-31T23:59:59Z", "tags": []},
        {"audio": "d.wav", "text": "four", "tags": ["noisy"], "device": "x2"},  # no recorded_at
        {"audio": str(tmp_path / "e.wav"), "text": "five", "recorded_at": "2025-04-02", "utt_id": "E"},
    ])


def test_rows_paths_dates_and_fields(dated: Path) -> None:
    m = load_manifest(dated)
    assert [u.line for u in m.utterances] == [1, 2, 3, 4, 5]
    a, b, _, d, e = m.utterances
    assert a.audio_path == dated.parent / "a.wav"  # relative to the manifest's folder
    assert e.audio_path == dated.parent / "e.wav" and e.utt_id == "E"  # absolute kept; utt_id used
    assert a.utt_id == "a.wav"
    assert b.recorded_at == datetime(2025, 4, 15, 8, 0, tzinfo=UTC)  # offset converted to UTC
    assert d.recorded_at is None
    assert a.fields == {"tags": ["noisy", "male"], "device": "x1"}
    assert m.problems == ()


def test_bad_rows_are_reported_with_their_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "ok.wav").write_bytes(b"RIFF")
    path = write_manifest(tmp_path / "m.jsonl", [
        {"audio": "ok.wav", "text": "fine"},
        {"audio": "missing.wav", "text": "gone"},
        {"audio": "ok.wav", "text": "  "},
        "{not json",
        "",
        {"text": "no audio"},
        {"audio": "ok.wav", "text": "again", "utt_id": "x", "recorded_at": "last tuesday"},
        ["a", "list"],
        {"audio": "ok.wav", "text": "duplicate of line 1"},
    ])
    m = load_manifest(path)
    assert [u.line for u in m.utterances] == [1]
    reasons = {p.line: p.reason for p in m.problems}
    assert sorted(reasons) == [2, 3, 4, 6, 7, 8, 9]  # line 5 is blank: not a row
    assert "not found" in reasons[2] and "no reference 'text'" in reasons[3]
    assert "not valid JSON" in reasons[4] and "no 'audio'" in reasons[6]
    assert "recorded_at" in reasons[7] and "not a JSON object" in reasons[8]
    assert "duplicate" in reasons[9] and "line 1" in reasons[9]
    assert m.rows == 8


def test_a_models_hypothesis_is_never_scored_as_the_reference(tmp_path: Path) -> None:
    """Import-format rows (transcribe-batch output, the request log) carry the model's text in `text`."""
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    path = write_manifest(tmp_path / "m.jsonl", [
        {"audio": "a.wav", "text": "turn of the lights", "reference": "Turn off the lights.", "utt_id": "batch"},
        {"audio": "a.wav", "text": "whats the whether", "reference": None, "utt_id": "logged"},
        {"audio": "a.wav", "text": "whats the whether", "reference": "", "utt_id": "blank"},
    ])
    m = load_manifest(path)
    assert [(u.utt_id, u.text) for u in m.utterances] == [("batch", "Turn off the lights.")]
    assert [p.line for p in m.problems] == [2, 3] and all("no reference yet" in p.reason for p in m.problems)


def test_since_counts_back_from_the_injected_clock(dated: Path) -> None:
    m = load_manifest(dated)
    window = DateWindow.from_options(since="90d", clock=_clock)
    assert window is not None and window.start == datetime(2025, 4, 1, 12, 0, tzinfo=UTC)
    sel = select(m.utterances, window)
    assert [u.audio for u in sel.utterances] == ["a.wav", "b.wav", str(dated.parent / "e.wav")]
    assert sel.no_recorded_at == (4,) and sel.outside_window == (3,)
    assert sel.to_json()["excluded_no_recorded_at"] == 1
    week = select(m.utterances, DateWindow.from_options(since="1w", clock=_clock))
    assert [u.line for u in week.utterances] == [1]


def test_from_to_is_inclusive_of_whole_days(dated: Path) -> None:
    m = load_manifest(dated)
    sel = select(m.utterances, DateWindow.from_options(date_from="2024-12-31", date_to="2025-04-15"))
    assert [u.line for u in sel.utterances] == [2, 3, 5]  # 23:59:59 on the 31st and the whole of the 15th
    only_to = select(m.utterances, DateWindow.from_options(date_to="2025-01-01"))
    assert [u.line for u in only_to.utterances] == [3]
    assert select(m.utterances, None).utterances == m.utterances  # no filter: rows without a date stay


def test_empty_selection_is_an_error_that_says_so(dated: Path) -> None:
    m = load_manifest(dated)
    with pytest.raises(SelectionError, match=r"empty selection.*4 recorded outside the window, 1 without recorded_at"):
        select(m.utterances, DateWindow.from_options(date_from="2030-01-01"))


@pytest.mark.parametrize(("flags", "message"), [
    ({"since": "90 days"}, "positive age"),
    ({"since": "0d"}, "positive age"),
    ({"since": "9d", "date_from": "2025-01-01"}, "cannot be combined"),
    ({"date_from": "2025-13-01"}, "--from"),
    ({"date_from": "2025-02-01", "date_to": "2025-01-01"}, "after --to"),
])
def test_bad_date_flags(flags: dict[str, str], message: str) -> None:
    with pytest.raises(SelectionError, match=message):
        DateWindow.from_options(**flags, clock=_clock)


def test_parse_since_units() -> None:
    assert parse_since("36h").total_seconds() == 36 * 3600
    assert parse_since("2w").days == 14


def test_slices_expand_lists_and_name_missing_values(dated: Path) -> None:
    a, b, c, d, e = load_manifest(dated).utterances
    assert slice_values(a, "tags") == ["male", "noisy"]
    assert slice_values(c, "tags") == [NO_VALUE]  # empty list
    assert slice_values(e, "tags") == [NO_VALUE]  # missing field
    assert slice_values(d, "device") == ["x2"]
    assert slice_values(b, "recorded_month") == ["2025-04"]
    assert slice_values(b, "recorded_week") == ["2025-W16"] and slice_values(d, "recorded_week") == [NO_VALUE]
    assert slice_values(d, "recorded_month") == [NO_VALUE]
    check_slice_keys([a, b], ["tags", "device", "recorded_month"])
    with pytest.raises(SelectionError, match="tgas"):
        check_slice_keys([a, b], ["tgas"])
