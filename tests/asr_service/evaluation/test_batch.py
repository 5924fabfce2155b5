"""`asr transcribe-batch`: manifest or folder in, JSON lines out, resumable, parallel without oversubscription."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from asr_service.cli import main
from asr_service.evaluation import EvaluationError, batch_items, run_batch
from asr_service.evaluation.batch import completed_audio
from tests.asr_service.evaluation.manifests import PHRASES, write_manifest
from tests.fakes import ConstantEngine, fake_file_transcriber


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_folder_batch_resumes_and_skips_done_files(
    espeak_dir: Path, tmp_path: Path, constant_engine: type[ConstantEngine], capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["transcribe-batch", str(espeak_dir), "-o", str(out), "--no-progress"]) == 0
    first = _lines(out)
    assert sorted(str(r["audio"]) for r in first) == sorted(PHRASES)
    assert all(r["text"] == "hello world" and r["clips"] and r["model_version"] == "constant-1" for r in first)
    calls = constant_engine.calls
    assert main(["transcribe-batch", str(espeak_dir), "-o", str(out), "--no-progress"]) == 0
    assert constant_engine.calls == calls and _lines(out) == first  # nothing redone
    assert "0 transcribed, 3 already in" in capsys.readouterr().err


def test_half_written_line_is_dropped_and_redone(espeak_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"audio": "hello.wav", "text": "x"}\n{"audio": "morn', encoding="utf-8")
    assert completed_audio(out) == {"hello.wav"}
    assert out.read_text(encoding="utf-8") == '{"audio": "hello.wav", "text": "x"}\n'
    items, _ = batch_items(espeak_dir)
    summary = run_batch(items, out, fake_file_transcriber(dict.fromkeys(PHRASES, "hi")))
    assert (summary.transcribed, summary.skipped) == (2, 1)
    assert [r["audio"] for r in _lines(out)] == ["hello.wav", "forward.wav", "morning.wav"]


def test_manifest_batch_reports_unreadable_files_with_line_numbers(
    espeak_dir: Path, tmp_path: Path, constant_engine: type[ConstantEngine], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.wav").write_text("nope", encoding="utf-8")
    manifest = write_manifest(tmp_path / "m.jsonl", [
        {"audio": str(espeak_dir / "hello.wav"), "utt_id": "h"},  # no text needed to transcribe
        {"audio": "bad.wav"},
        {"text": "no audio"},
    ])
    out = tmp_path / "out.jsonl"
    assert main(["transcribe-batch", str(manifest), "-o", str(out), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "manifest line 2: unreadable audio" in err and "skipped manifest line 3: no 'audio'" in err
    assert [(r["audio"], r["utt_id"]) for r in _lines(out)] == [(str(espeak_dir / "hello.wav"), "h")]


def test_resume_reads_out_with_the_manifest_reader(tmp_path: Path) -> None:
    # OUT is written with ensure_ascii=False: a raw U+2028 in a transcript must not split its line.
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"audio": "a.wav", "text": "one\u2028two"}, ensure_ascii=False) + "\n\n",
                   encoding="utf-8")
    assert completed_audio(out) == {"a.wav"}
    out.write_text('{"audio": "a.wav"}\n{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(EvaluationError, match=r"out\.jsonl:2: not a transcribe-batch line \(no 'audio'\)"):
        completed_audio(out)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to run 2 workers without oversubscribing")
def test_parallel_workers_share_one_model(
    espeak_dir: Path, tmp_path: Path, constant_engine: type[ConstantEngine]
) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["transcribe-batch", str(espeak_dir), "-o", str(out), "--workers", "2", "--threads", "1",
                 "--no-progress"]) == 0
    assert sorted(str(r["audio"]) for r in _lines(out)) == sorted(PHRASES)


def test_oversubscription_is_refused(espeak_dir: Path, tmp_path: Path, constant_engine: type[ConstantEngine],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    cores = os.cpu_count() or 1
    code = main(["transcribe-batch", str(espeak_dir), "-o", str(tmp_path / "o.jsonl"), "--workers", str(cores),
                 "--threads", "2"])
    assert code == 2
    assert "num_workers * engine.cpu_threads" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
