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
    # relative to OUT's folder, so that the next command finds the audio from there
    assert sorted((out.parent / str(r["audio"])).resolve() for r in first) == sorted(
        (espeak_dir / p).resolve() for p in PHRASES)
    assert all(r["text"] == "hello world" and r["clips"] and r["model_version"] == "constant-1" for r in first)
    assert all(isinstance(r["confidence"], float) and 0 <= r["confidence"] <= 1 for r in first)
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
    assert (summary.transcribed, summary.skipped) == (2, 1)  # a key as older versions wrote it still counts
    assert [Path(str(r["audio"])).name for r in _lines(out)] == ["hello.wav", "forward.wav", "morning.wav"]


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


def test_output_elsewhere_keeps_paths_usable_and_carries_the_manifest_fields(espeak_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    manifest = write_manifest(data / "dev.jsonl", [
        {"audio": os.path.relpath(espeak_dir / "hello.wav", data), "text": "Hello world.", "utt_id": "u1",
         "tags": ["read"], "recorded_at": "2026-11-30", "speaker": "s7"},
    ])
    out = tmp_path / "elsewhere" / "deeper" / "batch.jsonl"
    items, problems = batch_items(manifest)
    assert not problems
    summary = run_batch(items, out, fake_file_transcriber({"hello.wav": "hello world"}))
    assert summary.transcribed == 1
    (row,) = _lines(out)
    assert (out.parent / str(row["audio"])).resolve() == (espeak_dir / "hello.wav").resolve()
    assert {k: row[k] for k in ("utt_id", "tags", "recorded_at", "speaker", "reference")} == {
        "utt_id": "u1", "tags": ["read"], "recorded_at": "2026-11-30", "speaker": "s7", "reference": "Hello world."}
    assert row["text"] == "hello world" and row["confidence"] == 0.9  # the fake's one clip
    # the rerun from the same manifest finds it done
    assert run_batch(items, out, fake_file_transcriber({})).skipped == 1


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
    assert sorted(Path(str(r["audio"])).name for r in _lines(out)) == sorted(PHRASES)


def test_oversubscription_is_refused(espeak_dir: Path, tmp_path: Path, constant_engine: type[ConstantEngine],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    cores = os.cpu_count() or 1
    code = main(["transcribe-batch", str(espeak_dir), "-o", str(tmp_path / "o.jsonl"), "--workers", str(cores),
                 "--threads", "2"])
    assert code == 2
    assert "num_workers * engine.cpu_threads" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
