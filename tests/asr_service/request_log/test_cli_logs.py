"""`asr logs purge` and `asr logs stats`, through a parser built with the module's `register`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from asr_service.cli import _logs
from asr_service.request_log import RequestLog, read_rows
from tests.asr_service.request_log.conftest import NOW, clip, feedback


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="asr")
    _logs.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


@pytest.fixture()
def store(make_log: Callable[..., RequestLog], tmp_path: Path) -> Path:
    log = make_log()
    for days_ago in (2, 1, 0):
        at = NOW - timedelta(days=days_ago)
        for subject in ("alice", "bob"):
            assert log.submit(clip(f"{subject}-{days_ago}", at=at, subject_id=subject))
            assert log.submit(feedback(f"{subject}-{days_ago}", at=at, subject_id=subject))
    log.stop()
    return tmp_path / "log"


def test_stats_prints_days_rows_audio_and_bytes(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["logs", "stats", str(store)]) == 0
    out = capsys.readouterr().out
    assert "days              3" in out
    assert "oldest / newest   2025-03-12 / 2025-03-14" in out
    assert "rows              6" in out and "clips with audio  6" in out and "feedback rows     6" in out


def test_purge_a_subject_prints_what_went(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["logs", "purge", str(store), "--subject", "alice"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"purged subject 'alice' from {store}: 3 rows, 3 feedback rows, 3 audio files, 0 days")
    assert {r["subject_id"] for r in read_rows(store, kinds=("clip", "feedback"))} == {"bob"}
    assert len(list(store.glob("*/audio/*.wav"))) == 3


def test_purge_before_a_day(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["logs", "purge", str(store), "--before", "2025-03-14"]) == 0
    assert "4 rows, 4 feedback rows, 4 audio files, 2 days, " in capsys.readouterr().out
    assert {r["partition"] for r in read_rows(store)} == {"2025-03-14"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--subject", "alice"], "no such directory"),
        (["--before", "14/03/2025"], "is not a date (YYYY-MM-DD)"),
        ([], "give --subject ID, --before YYYY-MM-DD, or both"),
        (["--subject", " "], "must not be empty"),
    ],
)
def test_purge_errors_are_one_line_and_exit_1(store: Path, argv: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    directory = store.parent / "missing" if message == "no such directory" else store
    assert _run(["logs", "purge", str(directory), *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("asr: error: logs purge: ") and message in err and err.count("\n") == 1


def test_stats_of_a_missing_directory_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(["logs", "stats", str(tmp_path / "nope")]) == 1
    assert capsys.readouterr().err == f"asr: error: logs stats: {tmp_path / 'nope'}: no such directory\n"


def test_the_asr_command_has_the_logs_group(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from asr_service.cli import main

    assert main(["logs", "purge", str(store), "--subject", "bob", "--before", "2025-03-13"]) == 0
    assert capsys.readouterr().out.startswith(f"purged subject 'bob' and days before 2025-03-13 from {store}: "
                                              "4 rows, 4 feedback rows, 4 audio files, 1 day, ")
    assert main(["logs", "stats", str(store)]) == 0
    assert "rows              2" in capsys.readouterr().out
