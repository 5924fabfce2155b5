"""`asr eval compare`: paired comparison and the gate's exit codes (0 pass, 1 fail, 2 bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from asr_service.cli import main
from asr_service.evaluation import (
    EvalOptions,
    Gates,
    check_latency,
    compare,
    evaluate_manifest,
    load_results,
    write_results,
)
from asr_service.evaluation.bootstrap import MIN_UTTERANCES_FOR_VERDICT
from asr_service.evaluation.latency import DEFAULT_P95_TOLERANCE
from asr_service.evaluation.summary import BootstrapOptions
from tests.asr_service.evaluation.manifests import write_manifest
from tests.fakes import fake_file_transcriber

REFERENCE = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
N = 24
HOST_A = {"hostname": "ci-a", "cpu_model": "AMD EPYC", "cores": 2}
HOST_B = {"hostname": "laptop", "cpu_model": "Apple M2", "cores": 8}


@pytest.fixture()
def manifest(tmp_path: Path) -> Path:
    rows = []
    for i in range(N):
        (tmp_path / f"{i}.wav").write_bytes(b"")  # the fake transcriber never opens it
        rows.append({"audio": f"{i}.wav", "text": REFERENCE, "tags": ["even" if i % 2 == 0 else "odd", "all"]})
    return write_manifest(tmp_path / "dev.jsonl", rows)


def _run(manifest: Path, out: Path, wrong_words: dict[int, int], *, latency_ms: float = 120.0,
         normalizer: str = "whisper", first: int = N, host: dict[str, object] | None = None) -> Path:
    """Results where utterance i gets `wrong_words[i]` substituted words (default 1)."""
    words = REFERENCE.split()
    texts = {}
    for i in range(N):
        k = wrong_words.get(i, 1)
        texts[f"{i}.wav"] = " ".join(["x"] * k + words[k:])
    results = evaluate_manifest(manifest, fake_file_transcriber(texts, latency_ms=latency_ms), limit=first,
                                options=EvalOptions(normalizer=normalizer, bootstrap=BootstrapOptions(resamples=200)),
                                host=host or HOST_A)
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
    lenient = compare(base, cand, Gates(max_wer_rise_points=5.0, min_slice_utterances=12))
    assert not lenient.passed and lenient.failures == (lenient.failures[0],)
    assert lenient.failures[0].startswith("tags=even: WER rose 2.50 points")
    assert compare(base, cand, Gates(max_wer_rise_points=5.0, min_slice_utterances=13)).passed  # 12 < 13: not gated
    # one utterance is not enough evidence: the paired bootstrap does not call it significant
    assert compare(base, cand, Gates(max_wer_rise_points=0.5, min_slice_utterances=12,
                                     require_significance=True)).passed


def _rare_slice_manifest(tmp_path: Path) -> Path:
    rows = []
    for i in range(12):
        (tmp_path / f"{i}.wav").write_bytes(b"")
        rows.append({"audio": f"{i}.wav", "text": REFERENCE, "tags": ["rare"] if i == 0 else ["common"]})
    return write_manifest(tmp_path / "rare.jsonl", rows)


def test_a_slice_of_one_gets_no_verdict_and_never_fails_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = _rare_slice_manifest(tmp_path)
    # baseline: the rare utterance all wrong, the 11 others one word wrong; candidate A gets the rare one
    # right (-100 points on that slice), candidate B the others right and the rare one all wrong (+90)
    base = _run(dev, tmp_path / "base", {0: 10}, first=12)
    fixed = _run(dev, tmp_path / "fixed", {0: 0}, first=12)
    broken = _run(dev, tmp_path / "broken", {0: 10, **{i: 0 for i in range(1, 12)}}, first=12)
    worse_rare = _run(dev, tmp_path / "worse", {0: 10, **{i: 1 for i in range(1, 12)}}, first=12)
    rare_base = _run(dev, tmp_path / "rare-base", {0: 1}, first=12)
    assert main(["eval", "compare", str(base), str(fixed), "--json", str(tmp_path / "c.json")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("tags=rare"))
    assert line.endswith("too few (n=1)") and "better" not in line and "-100.00" in line
    rare = next(s for s in json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["slices"]
                if s["value"] == "rare")
    assert rare["gated"] is False and rare["significance"] is None and rare["verdict"] == "too few (n=1)"
    assert rare["delta_ci95_points"] is None and rare["delta_points"] == pytest.approx(-100.0)
    # +90 points on the one-utterance slice, overall better: passes; gating slices of one fails it
    assert compare(load_results(rare_base), load_results(worse_rare)).overall.delta_points == pytest.approx(7.5)
    assert main(["eval", "compare", str(base), str(broken)]) == 0
    one = compare(load_results(rare_base), load_results(broken), Gates(max_wer_rise_points=100, min_slice_utterances=1))
    assert [f.split(":")[0] for f in one.failures] == ["tags=rare"]
    assert compare(load_results(rare_base), load_results(broken), Gates(max_wer_rise_points=100)).passed


def test_min_slice_utterances_default_and_flag(manifest: Path, baseline: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    worse_even = _run(manifest, tmp_path / "even", {0: 4})  # tags=even (12 utterances) +2.5 points
    assert MIN_UTTERANCES_FOR_VERDICT > 1
    args = ["eval", "compare", str(baseline), str(worse_even), "--max-wer-rise", "5"]
    assert main([*args, "--min-slice-utterances", "12"]) == 1
    assert "tags=even: WER rose 2.50 points" in capsys.readouterr().out
    assert main([*args, "--min-slice-utterances", "13"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("tags=even"))
    assert line.endswith("too few (n=12)")
    assert main([*args, "--min-slice-utterances", "0"]) == 2


def test_latency_gate_is_relative_to_the_baseline_on_the_same_host(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a busy host: the baseline's p95 was 650 ms, the candidate's 642 ms; no absolute limit by default
    busy_base = _run(manifest, tmp_path / "busy-base", {}, latency_ms=650.0)
    busy_cand = _run(manifest, tmp_path / "busy-cand", {}, latency_ms=642.0)
    assert main(["eval", "compare", str(busy_base), str(busy_cand)]) == 0
    out = capsys.readouterr().out
    assert "hosts: same" in out and "exceeds" not in out and "PASS" in out
    allowed = 650.0 * (1 + DEFAULT_P95_TOLERANCE)
    within = _run(manifest, tmp_path / "within", {}, latency_ms=allowed - 2)
    assert main(["eval", "compare", str(busy_base), str(within)]) == 0
    slower = _run(manifest, tmp_path / "slower", {}, latency_ms=allowed + 2)
    assert main(["eval", "compare", str(busy_base), str(slower)]) == 1
    assert f"the baseline's 650 ms on the same host (the gate allows {1 + DEFAULT_P95_TOLERANCE:.2f}x" in (
        capsys.readouterr().out)
    assert main(["eval", "compare", str(busy_base), str(slower), "--p95-tolerance", "1"]) == 0
    # an absolute limit only when asked
    assert main(["eval", "compare", str(busy_base), str(busy_cand), "--max-p95-ms", "300"]) == 1
    assert "p95 latency 642 ms exceeds 300 ms" in capsys.readouterr().out


def test_no_latency_verdict_across_hosts_unless_asked(
    manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = _run(manifest, tmp_path / "fast", {}, latency_ms=120.0, host=HOST_A)
    slow = _run(manifest, tmp_path / "slow", {}, latency_ms=450.0, host=HOST_B)
    assert main(["eval", "compare", str(fast), str(slow)]) == 0
    out = capsys.readouterr().out
    assert "hosts: different" in out and "no relative latency verdict: the runs were measured on different hosts" in out
    assert "ci-a (AMD EPYC, 2 cores)" in out and "laptop (Apple M2, 8 cores)" in out
    assert "  host.hostname: ci-a -> laptop" in out  # also among the settings that differ
    assert main(["eval", "compare", str(fast), str(slow), "--latency-across-hosts"]) == 1
    assert "3.75x the baseline's 120 ms on another host" in capsys.readouterr().out
    assert main(["eval", "compare", str(fast), str(slow), "--max-p95-ms", "300"]) == 1


def test_check_latency_without_clips_or_hosts() -> None:
    none = check_latency(None, 100.0, baseline_host=HOST_A, candidate_host=HOST_A)
    assert none.failures == () and none.note and "no clips" in none.note and none.ratio is None
    unknown = check_latency(100.0, 500.0, baseline_host=None, candidate_host=HOST_A)
    assert unknown.hosts == "not recorded" and unknown.failures == () and unknown.relative_limit_ms is None
    asked = check_latency(100.0, 500.0, baseline_host=None, candidate_host=HOST_A, across_hosts=True)
    assert asked.relative_limit_ms == pytest.approx(100.0 * (1 + DEFAULT_P95_TOLERANCE)) and len(asked.failures) == 1
    with pytest.raises(ValueError, match="p95_tolerance"):
        Gates(p95_tolerance=-0.1)


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
