"""The one JSON-lines reader: the manifests people really write, and the same verdict from every caller."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from asr_service.evaluation import ManifestError, batch_items, load_manifest
from asr_service.jsonl import Row, RowError, RowProblem, UnreadableFileError, audio_path, read_rows
from labeling import InputError
from labeling._clips import read_clips

GOOD = '{"audio": "a.wav", "text": "go forward", "id": 1}'


def _read(tmp_path: Path, data: bytes) -> list[Row | RowProblem]:
    path = tmp_path / "m.jsonl"
    path.write_bytes(data)
    return list(read_rows(path))


def _problems(entries: list[Row | RowProblem]) -> dict[int, str]:
    return {e.line: e.reason for e in entries if isinstance(e, RowProblem)}


def test_blank_lines_are_no_rows_but_count_for_line_numbers(tmp_path: Path) -> None:
    entries = _read(tmp_path, f"{GOOD}\n\n   \n{GOOD}\n\n".encode())  # trailing blank line too
    assert [(e.line, type(e)) for e in entries] == [(1, Row), (4, Row)]


def test_a_row_written_by_hand_with_single_quotes_is_reported_where_it_is(tmp_path: Path) -> None:
    entries = _read(tmp_path, f"{GOOD}\n{{'audio': 'b.wav', 'text': 'hi'}}\n{GOOD}\n".encode())
    assert _problems(entries) == {2: "not valid JSON (Expecting property name enclosed in double quotes at column 2)"}
    assert [e.line for e in entries if isinstance(e, Row)] == [1, 3]  # the rows after it are still read


def test_a_windows_file_reads_like_a_unix_one(tmp_path: Path) -> None:
    entries = _read(tmp_path, f"{GOOD}\r\n\r\n{GOOD}\r\n[1]\r\n".encode())
    assert [e.data["text"] for e in entries if isinstance(e, Row)] == ["go forward", "go forward"]
    assert _problems(entries) == {4: "not a JSON object (an array)"}


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_row(tmp_path: Path) -> None:
    (row,) = _read(tmp_path, b"\xef\xbb\xbf" + GOOD.encode() + b"\n")
    assert isinstance(row, Row) and row.data["audio"] == "a.wav"


def test_a_truncated_last_line_is_a_bad_row_not_a_lost_one(tmp_path: Path) -> None:
    entries = _read(tmp_path, f'{GOOD}\n{{"audio": "b.wav", "text": "half wr'.encode())
    assert _problems(entries) == {2: "not valid JSON (Unterminated string starting at column 28)"}


def test_line_separators_inside_a_string_do_not_split_the_row(tmp_path: Path) -> None:
    # json.dumps(ensure_ascii=False) writes U+2028 raw; str.splitlines would cut the row in two.
    (row,) = _read(tmp_path, '{"audio": "a.wav", "text": "one\u2028two\x85three"}\n'.encode())
    assert isinstance(row, Row) and row.data["text"] == "one\u2028two\x85three"


@pytest.mark.parametrize(("line", "kind"), [('"a.wav"', "a string"), ("null", "null"), ("3", "a number")])
def test_a_json_value_that_is_no_object_names_its_kind(tmp_path: Path, line: str, kind: str) -> None:
    assert _problems(_read(tmp_path, line.encode() + b"\n")) == {1: f"not a JSON object ({kind})"}


def test_a_missing_file_or_a_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"nope\.jsonl: cannot read it \(No such file or directory\)"):
        list(read_rows(tmp_path / "nope.jsonl"))
    with pytest.raises(UnreadableFileError, match=r": cannot read it \(Is a directory\)"):
        list(read_rows(tmp_path))


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match=r"m\.jsonl:2: not UTF-8 text \(invalid continuation byte"):
        _read(tmp_path, f"{GOOD}\n".encode() + '{"audio": "café.wav"}\n'.encode("latin-1"))


def test_audio_is_resolved_against_the_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "a.wav").write_bytes(b"RIFF")
    manifest = tmp_path / "sets" / "m.jsonl"

    def row(audio: object) -> Row:
        return Row(line=7, data={"audio": audio})

    assert audio_path(row("../audio/a.wav"), manifest, must_exist=True) == ("../audio/a.wav", tmp_path / "audio/a.wav")
    assert audio_path(row("/abs/x.wav"), manifest, must_exist=False) == ("/abs/x.wav", Path("/abs/x.wav"))
    with pytest.raises(RowError) as missing:
        audio_path(row("x.wav"), manifest, must_exist=True)
    reason = f"audio file not found: {tmp_path / 'sets' / 'x.wav'}"
    assert missing.value.problem(7) == RowProblem(line=7, audio="x.wav", reason=reason)
    for bad in (None, "", "  ", 3):
        with pytest.raises(RowError, match=r"^no 'audio' path$"):
            audio_path(row(bad), manifest, must_exist=False)


def test_a_problem_reads_as_file_line_reason() -> None:
    problem = RowProblem(line=3, reason="not a JSON object (null)")
    assert problem.where(Path("m.jsonl")) == "m.jsonl:3: not a JSON object (null)"
    assert problem.to_json() == {"line": 3, "audio": "", "reason": "not a JSON object (null)"}


# -- every caller, one verdict ---------------------------------------------------------------------------

def _labeling_stdin(data: bytes) -> str:
    done = subprocess.run([sys.executable, "-m", "labeling", "conventions", "fix"], input=data,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 2
    return done.stderr.decode()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("{'audio': 'a.wav', 'text': 'hi'}", "not valid JSON (Expecting property name enclosed in double quotes "
                                             "at column 2)"),
        ('["a.wav", "hi"]', "not a JSON object (an array)"),
        ('{"audio": "a.wav", "text": "h', "not valid JSON (Unterminated string starting at column 28)"),
    ],
)
def test_every_caller_reports_the_same_bad_line_in_the_same_words(tmp_path: Path, bad: str, reason: str) -> None:
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    manifest = tmp_path / "m.jsonl"
    manifest.write_bytes(f"{GOOD}\r\n\r\n{bad}".encode())  # a CRLF file, a blank line, the bad line last
    expected = RowProblem(line=3, reason=reason)

    assert load_manifest(manifest, check_files=False).problems == (expected,)
    assert batch_items(manifest)[1] == [expected]
    with pytest.raises(InputError) as clips:
        read_clips(manifest, document_root=tmp_path)
    assert str(clips.value) == f"{manifest}:3: {reason}"
    assert f"error: stdin:3: {reason}" in _labeling_stdin(manifest.read_bytes())


def test_every_caller_refuses_an_unreadable_manifest_in_the_same_words(tmp_path: Path) -> None:
    expected = f"{tmp_path}: cannot read it (Is a directory)"
    with pytest.raises(ManifestError) as evaluation:
        load_manifest(tmp_path)
    with pytest.raises(InputError) as clips:
        read_clips(tmp_path, document_root=tmp_path)
    assert str(evaluation.value) == str(clips.value) == expected
    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"audio": "café.wav"}\n'.encode("latin-1"))
    with pytest.raises(ManifestError) as batch:
        batch_items(latin1)
    with pytest.raises(InputError) as clips:
        read_clips(latin1, document_root=tmp_path)
    assert str(batch.value) == str(clips.value) and str(batch.value).startswith(f"{latin1}:1: not UTF-8 text")
    assert "error: stdin:1: not UTF-8 text" in _labeling_stdin(latin1.read_bytes())


def test_a_revision_line_is_refused_by_label_import_not_taken_for_a_clip(tmp_path: Path) -> None:
    (tmp_path / "talk.wav").write_bytes(b"RIFF")
    lines = tmp_path / "clips.jsonl"  # `asr transcribe --json --stream --revisions`: clips, then a revision
    clip = {"file": str(tmp_path / "talk.wav"), "clip_id": "0", "start_s": 0.3, "end_s": 2.1, "text": "Hello."}
    revision = {"file": str(tmp_path / "talk.wav"),
                "revision": {"result_ids": ["r/0", "r/1"], "clip_ids": ["0", "1"], "start_s": 0.3, "end_s": 4.0,
                             "text": "Hello there."}}
    lines.write_text(json.dumps(clip) + "\n" + json.dumps(revision) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        read_clips(lines, document_root=tmp_path)
    assert str(refused.value).startswith(f"{lines}:2: a revision of clips above it")
