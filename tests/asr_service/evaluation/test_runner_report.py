"""The whole evaluation with a fake transcriber (scores, slices, bad rows, results.json) and the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

import vad
from asr_service.evaluation import (
    AudioSpan,
    EvalOptions,
    FileTranscript,
    SelectionError,
    evaluate_manifest,
    load_results,
    write_report,
    write_results,
)
from asr_service.evaluation.report import PLOTS
from asr_service.evaluation.summary import BootstrapOptions
from tests.asr_service.evaluation.manifests import write_manifest
from tests.fakes import fake_file_transcriber

HYPOTHESES = {
    "u1.wav": "the cat sat on the mat",  # ref "The cat sat on the mat." -> 0 errors / 6
    "u2.wav": "go forward ten meter",  # ref "Go forward 10 meters." -> 1 S / 5 (default normaliser: "1 0")
    "u3.wav": "",  # ref "Hello there." -> 2 D / 2
    "u4.wav": "good morning to you all",  # ref "Good morning, everybody." -> 1 S + 2 I / 3
}


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    for name in HYPOTHESES:
        soundfile.write(tmp_path / name, np.zeros(8000, dtype=np.int16), 16_000)
    (tmp_path / "broken.wav").write_text("not audio", encoding="utf-8")
    return write_manifest(tmp_path / "dev.jsonl", [
        {"audio": "u1.wav", "text": "The cat sat on the mat.", "tags": ["read", "male"], "speaker": "s1",
         "recorded_at": "2025-06-01"},
        {"audio": "u2.wav", "text": "Go forward 10 meters.", "tags": ["command", "male"], "speaker": "s2",
         "recorded_at": "2025-06-20"},
        {"audio": "missing.wav", "text": "never heard", "tags": ["read"]},
        {"audio": "u3.wav", "text": "Hello there.", "tags": ["noisy"], "speaker": "s1", "recorded_at": "2025-05-01"},
        {"audio": "u4.wav", "text": "Good morning, everybody.", "tags": ["noisy", "read"], "speaker": "s3"},
        {"audio": "broken.wav", "text": "unreadable", "tags": ["read"]},
        {"audio": "u1.wav", "text": "", "utt_id": "no-text"},
    ])


def _transcribe(source: Path | AudioSpan) -> FileTranscript:
    vad.read_audio(source.path if isinstance(source, AudioSpan) else source)  # VadError, as transcribe_file
    return fake_file_transcriber(HYPOTHESES)(source)


def test_scores_slices_and_bad_rows(manifest: Path) -> None:
    results = evaluate_manifest(manifest, _transcribe, options=EvalOptions(by=("tags", "speaker")))
    by_id = {u.utt_id: u for u in results.utterances}
    assert list(by_id) == ["u1.wav", "u2.wav", "u3.wav", "u4.wav"]
    assert by_id["u2.wav"].reference_normalized == "go forward 1 0 meters"  # numbers read digit by digit
    assert (by_id["u2.wav"].words.substitutions, by_id["u3.wav"].words.deletions) == (1, 2)
    assert (by_id["u4.wav"].words.substitutions, by_id["u4.wav"].words.insertions) == (1, 2)
    overall = results.overall
    assert (overall.words.errors, overall.words.reference_length) == (6, 16)
    assert overall.wer == pytest.approx(6 / 16)
    assert overall.wer_ci is not None and overall.wer_ci.contains(6 / 16)
    slices = {s.name: s for s in results.slices}
    assert slices["tags=noisy"].wer == pytest.approx(5 / 5)  # u3 (2 D) + u4 (3 errors) over 2 + 3 words
    assert slices["tags=read"].wer == pytest.approx(3 / 9)  # u1 + u4
    assert slices["tags=male"].utterances == 2 and slices["tags=male"].wer == pytest.approx(1 / 11)
    assert slices["speaker=s1"].wer == pytest.approx(2 / 8)
    assert overall.null_clips == 1 and overall.null_rate == pytest.approx(1 / 4)
    assert overall.latency_p50_ms == pytest.approx(120.0)
    problems = {p.line: p.reason for p in results.problems}
    assert sorted(problems) == [3, 6, 7]
    assert "not found" in problems[3] and "unreadable audio" in problems[6] and "no reference" in problems[7]
    assert results.counts == {"manifest_rows": 7, "excluded_bad_rows": 2, "excluded_by_date": 0,
                              "excluded_beyond_limit": 0, "excluded_unreadable_audio": 1, "scored_utterances": 4}
    assert results.model["model_version"] == "fake-1"


def test_results_json_round_trip_and_contents(manifest: Path, tmp_path: Path) -> None:
    results = evaluate_manifest(manifest, _transcribe, options=EvalOptions(bootstrap=BootstrapOptions(resamples=200)))
    path = write_results(results, tmp_path / "out" / "results.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["summary"]["wer"] == pytest.approx(6 / 16)
    assert data["summary"]["excluded_bad_rows"] == 2 and len(data["problems"]) == 3
    record = data["utterances"][3]
    for field in ("reference", "hypothesis", "reference_normalized", "hypothesis_normalized", "words", "chars",
                  "latency_ms", "alignment", "clips"):
        assert field in record
    assert record["words"] == {"hits": 2, "substitutions": 1, "deletions": 0, "insertions": 2,
                               "reference_words": 3, "errors": 3, "wer": 1.0}
    again = load_results(path)
    assert again.overall == results.overall and again.utterances == results.utterances


def test_date_window_and_empty_selection(manifest: Path) -> None:
    from asr_service.evaluation import DateWindow

    window = DateWindow.from_options(date_from="2025-06-01", date_to="2025-06-30")
    results = evaluate_manifest(manifest, _transcribe, window=window)
    assert [u.utt_id for u in results.utterances] == ["u1.wav", "u2.wav"]
    assert results.counts["excluded_by_date"] == 3  # u3 outside; u4 and broken.wav without recorded_at
    assert results.selection["excluded_no_recorded_at"] == 2
    with pytest.raises(SelectionError, match="empty selection"):
        evaluate_manifest(manifest, _transcribe, window=DateWindow.from_options(date_from="2026-01-01"))


def test_report_has_its_plots_and_sections(manifest: Path, tmp_path: Path) -> None:
    results = evaluate_manifest(manifest, _transcribe, options=EvalOptions(by=("tags",)))
    out = tmp_path / "report"
    report = write_report(results, out)
    page = report.read_text(encoding="utf-8")
    for section in ("summary", "wer-by-slice", "latency", "worst-utterances", "top-substitutions",
                    "errors-by-tag", "problems"):
        assert f'id="{section}"' in page
    assert page.count("data:image/png;base64,") == len(PLOTS)
    for name in PLOTS:
        png = (out / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 5000
    worst = page.index('id="worst-utterances"')
    assert page.index("<b>u4.wav</b>", worst) < page.index("<b>u3.wav</b>", worst)  # most errors first
    assert "REF: good morning ** *** EVERYBODY\nHYP: good morning TO YOU ALL\n" in page
    assert "<td>everybody</td><td>all</td>" in page  # top substitutions table
    assert "missing.wav" in page and "unreadable audio" in page


def test_a_run_without_errors_still_gets_its_report_and_plots(tmp_path: Path) -> None:
    # every bar at 0 %: the axis once shrank around 0 and left no room for the labels (a matplotlib warning)
    soundfile.write(tmp_path / "u1.wav", np.zeros(8000, dtype=np.int16), 16_000)
    manifest = write_manifest(tmp_path / "dev.jsonl", [
        {"audio": "u1.wav", "text": "The cat sat on the mat.", "tags": ["read"]}])
    results = evaluate_manifest(manifest, fake_file_transcriber({"u1.wav": "the cat sat on the mat"}),
                                options=EvalOptions(by=("tags",)))
    assert results.overall.wer == 0.0
    write_report(results, tmp_path / "out")  # warnings are errors in the tests
    assert all((tmp_path / "out" / name).stat().st_size > 0 for name in PLOTS)
