"""What the clips' first results alone scored in a run with revisions: results.json's
``summary.first_results``, the report's line, the summary printed, and results files from before it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from asr_service.cli import main
from asr_service.cli._eval import _print_eval
from asr_service.evaluation import (
    AudioSpan,
    ClipOutcome,
    EvalOptions,
    EvaluationResults,
    FileTranscript,
    evaluate_manifest,
    load_results,
    write_report,
    write_results,
)
from asr_service.evaluation.scoring import ErrorCounts
from asr_service.evaluation.summary import BootstrapOptions
from asr_service.recognizer import NullReason
from tests.asr_service.evaluation.manifests import write_manifest
from tests.fakes import fake_file_transcriber

# file -> (the clips' first results, the file's text after the revisions)
REVISED = {
    # ref "The cat sat on the mat." (6 words): first "the cat sad on the map" 2 S; revised: no error
    "a.wav": (("the cat", "sad on the map"), "the cat sat on the mat"),
    # ref "Go north." (2 words): first "go" 1 D (a null clip between); revised: no error
    "b.wav": (("go", ""), "go north"),
    # ref "Hello there." (2 words): no revision, "hello their" 1 S both times
    "c.wav": (("hello their",), "hello their"),
}
OPTIONS = EvalOptions(bootstrap=BootstrapOptions(resamples=50))


def _revised(source: Path | AudioSpan) -> FileTranscript:
    """A file transcribed as one session with revisions: its clips keep their first results."""
    firsts, text = REVISED[(source.path if isinstance(source, AudioSpan) else source).name]
    clips = tuple(ClipOutcome(start_s=float(i), end_s=i + 1.0, text=first, confidence=0.9,
                              null_reason=NullReason.NONE if first else NullReason.NO_SPEECH,
                              latency_ms=100.0, inference_ms=90.0, round_trip_ms=110.0)
                  for i, first in enumerate(firsts))
    return FileTranscript(text=text, clips=clips, model_id="fake", model_version="fake-1")


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    for name in REVISED:
        (tmp_path / name).write_bytes(b"")  # the fake transcribers never open them
    return write_manifest(tmp_path / "dev.jsonl", [
        {"audio": "a.wav", "text": "The cat sat on the mat.", "tags": ["talk"]},
        {"audio": "b.wav", "text": "Go north.", "tags": ["talk"]},
        {"audio": "c.wav", "text": "Hello there.", "tags": ["talk"]},
    ])


def test_a_run_with_revisions_stores_what_the_first_results_scored(manifest: Path, tmp_path: Path) -> None:
    results = evaluate_manifest(manifest, _revised, options=OPTIONS)
    # after the revisions: c's 1 S over 10 reference words; before: a's 2 S, b's 1 D and c's 1 S
    assert results.overall.wer == pytest.approx(1 / 10)
    assert results.first_results == ErrorCounts(hits=6, substitutions=3, deletions=1, insertions=0)
    data = json.loads(write_results(results, tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert data["summary"]["wer"] == pytest.approx(0.1)
    assert data["summary"]["first_results"] == {
        "reference_words": 10, "hits": 6, "substitutions": 3, "deletions": 1, "insertions": 0, "errors": 4,
        "wer": pytest.approx(0.4)}
    assert load_results(tmp_path / "out" / "results.json").first_results == results.first_results
    page = write_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "<tr><th>first results alone (before revisions)</th><td>WER 40.0% (S 3, D 1, I 0)</td></tr>" in page


def test_a_run_without_revisions_stores_none(manifest: Path, tmp_path: Path) -> None:
    # each file's text is its clips' texts joined: nothing was revised
    texts = {name: text for name, (_, text) in REVISED.items()}
    results = evaluate_manifest(manifest, fake_file_transcriber(texts), options=OPTIONS)
    assert results.overall.wer == pytest.approx(1 / 10) and results.first_results is None
    path = write_results(results, tmp_path / "out" / "results.json")
    assert json.loads(path.read_text(encoding="utf-8"))["summary"]["first_results"] is None
    assert load_results(path).first_results is None
    page = write_report(results, tmp_path / "out").read_text(encoding="utf-8")
    assert "first results alone" not in page


def test_results_from_before_first_results_still_load(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_path = write_results(evaluate_manifest(manifest, _revised, options=OPTIONS), tmp_path / "new" / "results.json")
    old_doc = json.loads(new_path.read_text(encoding="utf-8"))
    del old_doc["summary"]["first_results"]
    old_path = tmp_path / "old" / "results.json"
    old_path.parent.mkdir()
    old_path.write_text(json.dumps(old_doc), encoding="utf-8")
    old = load_results(old_path)
    assert old.first_results is None and old.overall.wer == pytest.approx(0.1)
    assert "first results alone" not in write_report(old, tmp_path / "old").read_text(encoding="utf-8")
    assert main(["eval", "compare", str(old_path), str(new_path)]) == 0  # the same run: the gate passes
    assert "PASS" in capsys.readouterr().out


def test_the_summary_printed_gives_the_stored_first_results(
    manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = evaluate_manifest(manifest, _revised, options=OPTIONS)
    _print_eval(results)
    assert "revisions: WER 10.00 % after them, 40.00 % for the clips' first results alone (S3 D1 I0)" in (
        capsys.readouterr().out)
    # the line reads the stored counts, not the records again
    stored: EvaluationResults = dataclasses.replace(
        results, first_results=ErrorCounts(hits=5, substitutions=2, deletions=3, insertions=1))
    _print_eval(stored)
    assert "revisions: WER 10.00 % after them, 60.00 % for the clips' first results alone (S2 D3 I1)" in (
        capsys.readouterr().out)
    _print_eval(dataclasses.replace(results, first_results=None))
    assert "revisions:" not in capsys.readouterr().out
