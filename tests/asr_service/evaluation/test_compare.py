"""`asr eval compare`: paired comparison and the gate's exit codes (0 pass, 1 fail, 2 bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asr_service.cli import main
from asr_service.evaluation import EvalOptions, Gates, compare, evaluate_manifest, load_results, write_results
from asr_service.evaluation.summary import BootstrapOptions
from tests.asr_service.evaluation.manifests import write_manifest
from tests.fakes import fake_file_transcriber

REFERENCE = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
N = 24


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    rows = []
    for i in range(N):
        (tmp_path / f"{i}.wav").write_bytes(b"")  # the fake transcriber never opens it
        rows.append({"audio": f"{i}.wav", "text": REFERENCE, "tags": ["even" if i % 2 == 0 else "odd", "all"]})
    return write_manifest(tmp_path / "dev.jsonl", rows)


def _run(manifest: Path, out: Path, wrong_words: dict[int, int], *, latency_ms: float = 120.0,
         normalizer: str = "whisper", first: int = N) -> Path:
    """Results where utterance i gets `wrong_words[i]` substituted words (default 1)."""
    words = REFERENCE.split()
    texts = {}
    for i in range(N):
        k = wrong_words.get(i, 1)
        texts[f"{i}.wav"] = " ".join(["x"] * k + words[k:])
    results = evaluate_manifest(manifest, fake_file_transcriber(texts, latency_ms=latency_ms), limit=first,
                                options=EvalOptions(normalizer=normalizer, bootstrap=BootstrapOptions(resamples=200)))
    return write_results(results, out / "results.json")


@pytest.fixture()
def baseline(manifest: Path, tmp_path: Path) -> Path:
    return _run(manifest, tmp_path / "base", {})


def test_better_candidate_passes(manifest: Path, baseline: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    better = _run(manifest, tmp_path / "better", {i: 0 for i in range(N)})
    assert main(["eval", "compare", str(baseline), str(better), "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "better" in out
    data = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert data["passed"] is True and data["overall"]["delta_points"] == pytest.approx(-10.0)
    assert data["overall"]["significance"] == "better" and data["shared_utterances"] == N


def test_equal_candidate_passes(manifest: Path, baseline: Path, tmp_path: Path) -> None:
    same = _run(manifest, tmp_path / "same", {})
    assert main(["eval", "compare", str(baseline), str(same)]) == 0
    comparison = compare(load_results(baseline), load_results(same))
    assert comparison.overall.delta_points == 0.0 and comparison.overall.paired is not None
    assert comparison.overall.paired.verdict == "no significant difference"


def test_worse_candidate_fails(manifest: Path, baseline: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    worse = _run(manifest, tmp_path / "worse", {i: 2 for i in range(N)})  # +10 points everywhere
    assert main(["eval", "compare", str(baseline), str(worse)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "all: WER rose 10.00 points" in out and "tags=even: WER rose" in out


def test_slice_gate_and_small_slices(manifest: Path, baseline: Path, tmp_path: Path) -> None:
    # one utterance of the "even" slice gets 3 more errors: overall +1.25 points, even +2.5, odd 0
    worse_even = _run(manifest, tmp_path / "even", {0: 4})
    base, cand = load_results(baseline), load_results(worse_even)
    lenient = compare(base, cand, Gates(max_wer_rise_points=5.0))
    assert not lenient.passed and lenient.failures == (lenient.failures[0],)
    assert lenient.failures[0].startswith("tags=even: WER rose 2.50 points")
    assert compare(base, cand, Gates(max_wer_rise_points=5.0, min_slice_utterances=13)).passed  # 12 < 13: not gated
    # one utterance is not enough evidence: the paired bootstrap does not call it significant
    assert compare(base, cand, Gates(max_wer_rise_points=0.5, require_significance=True)).passed


def test_latency_gate(manifest: Path, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    slow = _run(manifest, tmp_path / "slow", {}, latency_ms=450.0)
    assert main(["eval", "compare", str(baseline), str(slow)]) == 1  # default limit: the 300 ms budget
    assert "p95 latency 450 ms exceeds 300 ms" in capsys.readouterr().out
    assert main(["eval", "compare", str(baseline), str(slow), "--max-p95-ms", "500"]) == 0


def test_pairs_only_shared_utterances(manifest: Path, baseline: Path, tmp_path: Path) -> None:
    partial = _run(manifest, tmp_path / "partial", {i: 0 for i in range(N)}, first=10)
    comparison = compare(load_results(baseline), load_results(partial))
    assert comparison.shared == 10 and comparison.only_baseline == N - 10 and comparison.only_candidate == 0
    assert comparison.overall.baseline_wer == pytest.approx(0.1) and comparison.overall.candidate_wer == 0.0


def test_bad_input_exits_2(manifest: Path, baseline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "compare", str(baseline), str(tmp_path / "nope.json")]) == 2
    (tmp_path / "junk.json").write_text("{", encoding="utf-8")
    assert main(["eval", "compare", str(baseline), str(tmp_path / "junk.json")]) == 2
    (tmp_path / "other.json").write_text('{"schema": "something-else"}', encoding="utf-8")
    assert main(["eval", "compare", str(baseline), str(tmp_path / "other.json")]) == 2
    plain = _run(manifest, tmp_path / "plain", {}, normalizer="none")
    assert main(["eval", "compare", str(baseline), str(plain)]) == 2
    assert main(["eval", "compare", str(baseline)]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "not a JSON document" in err and "different scoring normalisers" in err
