"""Paired comparison of two evaluation runs on the utterances both share, and the promotion gate.

Pairing is by utterance id (``utt_id``, else the manifest's ``audio``). Both runs must have used the same
scoring normaliser; shared utterances whose normalised references differ (the manifest changed between
runs) are left out and counted. For the whole set and every slice of at least ``min_slice_utterances``
shared utterances, the WER difference (candidate minus baseline, in percentage points) comes with a
paired-bootstrap interval and significance (see `asr_service.evaluation.bootstrap`); a smaller slice is
shown as "too few (n=..)": no interval, no verdict, and it never fails the gate.

The gate (`Gates`) fails the candidate when the overall WER rises by more than ``max_wer_rise_points``,
when a slice with at least ``min_slice_utterances`` shared utterances rises by more than
``max_slice_wer_rise_points``, or when its latency fails `check_latency`: by default its p95 clip
latency against the baseline's, measured on the same host (candidate p95 <= baseline p95 x (1 +
``p95_tolerance``)); an absolute ``max_p95_latency_ms`` only when asked. Runs measured on different
hosts (or whose host was not recorded) get no relative latency verdict unless ``latency_across_hosts``.
With ``require_significance`` a WER rise fails only when the paired bootstrap also calls the candidate
worse. `Comparison.settings_differences` lists every recorded setting that differs between the runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from asr_service.evaluation.bootstrap import MIN_UTTERANCES_FOR_VERDICT, PairedBootstrap, paired_bootstrap
from asr_service.evaluation.errors import ResultsError
from asr_service.evaluation.latency import DEFAULT_P95_TOLERANCE, LatencyCheck, check_latency
from asr_service.evaluation.records import UtteranceRecord
from asr_service.evaluation.results import EvaluationResults
from asr_service.evaluation.settings import SettingDifference, settings_differences
from asr_service.evaluation.summary import ALL, BootstrapOptions, percentile

__all__ = ["Comparison", "Gates", "SliceComparison", "compare"]


@dataclass(frozen=True, kw_only=True)
class Gates:
    """The promotion gate; WER thresholds in percentage points, latency as a ratio or in ms."""

    max_wer_rise_points: float = 0.5
    max_slice_wer_rise_points: float = 2.0
    min_slice_utterances: int = MIN_UTTERANCES_FOR_VERDICT  # smaller slices: "too few", no verdict, no gate
    p95_tolerance: float = DEFAULT_P95_TOLERANCE  # candidate p95 <= baseline p95 x (1 + this), same host
    max_p95_latency_ms: float | None = None  # an absolute p95 limit, only when asked
    latency_across_hosts: bool = False  # a relative latency verdict even for runs from different hosts
    require_significance: bool = False
    bootstrap: BootstrapOptions = field(default_factory=BootstrapOptions)  # for the paired bootstrap

    def __post_init__(self) -> None:
        if self.min_slice_utterances < 1:
            raise ValueError(f"min_slice_utterances: {self.min_slice_utterances} is not at least 1")
        if not 0.0 <= self.p95_tolerance <= 10.0:
            raise ValueError(f"p95_tolerance: {self.p95_tolerance} is not in [0, 10] (0.2 allows +20 %)")
        if self.max_p95_latency_ms is not None and not self.max_p95_latency_ms > 0:
            raise ValueError(f"max_p95_latency_ms: {self.max_p95_latency_ms} is not a positive number of ms")


@dataclass(frozen=True, kw_only=True)
class SliceComparison:
    """Baseline vs candidate on the shared utterances of one slice (or of all)."""

    key: str
    value: str
    utterances: int
    reference_words: int
    baseline_wer: float | None
    candidate_wer: float | None
    paired: PairedBootstrap | None  # None for a slice too small to judge (and for no reference words)
    gated: bool  # False for slices too small to gate
    failure: str | None  # why the gate failed on this slice, None when it passed or was not gated

    @property
    def name(self) -> str:
        """``key=value``, or ``all``."""
        return ALL if self.key == ALL else f"{self.key}={self.value}"

    @property
    def delta_points(self) -> float | None:
        """Candidate WER - baseline WER, in percentage points."""
        if self.baseline_wer is None or self.candidate_wer is None:
            return None
        return 100.0 * (self.candidate_wer - self.baseline_wer)

    @property
    def verdict(self) -> str:
        """The paired bootstrap's verdict, "too few (n=N)" for a slice too small to judge, or "-"."""
        if not self.gated:
            return f"too few (n={self.utterances})"
        return self.paired.verdict if self.paired else "-"

    def to_json(self) -> dict[str, Any]:
        """As written by ``asr eval compare --json``."""
        paired = self.paired
        return {
            "key": self.key, "value": self.value, "utterances": self.utterances,
            "reference_words": self.reference_words, "baseline_wer": self.baseline_wer,
            "candidate_wer": self.candidate_wer, "delta_points": self.delta_points,
            "delta_ci95_points": [100 * paired.interval.low, 100 * paired.interval.high] if paired else None,
            "share_resamples_candidate_worse": paired.share_worse if paired else None,
            "p_value_worse": paired.p_worse if paired else None,
            "significance": paired.verdict if paired else None, "verdict": self.verdict,
            "gated": self.gated, "failure": self.failure,
        }


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """The paired comparison and the gate's verdict."""

    baseline: str
    candidate: str
    shared: int
    only_baseline: int
    only_candidate: int
    reference_mismatch: int
    overall: SliceComparison
    slices: tuple[SliceComparison, ...]
    latency: LatencyCheck
    settings_differences: tuple[SettingDifference, ...]
    min_slice_utterances: int
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when the candidate passes every gate."""
        return not self.failures

    @property
    def baseline_p95_ms(self) -> float | None:
        """The baseline's p95 clip latency on the shared utterances."""
        return self.latency.baseline_p95_ms

    @property
    def candidate_p95_ms(self) -> float | None:
        """The candidate's p95 clip latency on the shared utterances."""
        return self.latency.candidate_p95_ms

    def to_json(self) -> dict[str, Any]:
        """As written by ``asr eval compare --json``."""
        return {
            "baseline": self.baseline, "candidate": self.candidate, "passed": self.passed,
            "failures": list(self.failures), "shared_utterances": self.shared,
            "only_baseline": self.only_baseline, "only_candidate": self.only_candidate,
            "reference_mismatch": self.reference_mismatch, "min_slice_utterances": self.min_slice_utterances,
            "settings_differ": [d.to_json() for d in self.settings_differences],
            "latency": self.latency.to_json(),
            "overall": self.overall.to_json(), "slices": [s.to_json() for s in self.slices],
        }


def _name(results: EvaluationResults, fallback: str) -> str:
    return str(results.model.get("model_version") or results.model.get("description") or fallback)


def compare(baseline: EvaluationResults, candidate: EvaluationResults, gates: Gates | None = None) -> Comparison:
    """Pair the runs and apply the gate; `ResultsError` when they cannot be compared."""
    g = gates or Gates()
    if baseline.normalizer != candidate.normalizer:
        raise ResultsError(f"the runs used different scoring normalisers ({baseline.normalizer!r} vs "
                           f"{candidate.normalizer!r}): their WERs are not comparable; evaluate one again "
                           f"with the other's --normalizer")
    cand_by_id = {u.utt_id: u for u in candidate.utterances}
    pairs: list[tuple[UtteranceRecord, UtteranceRecord]] = []
    mismatch = 0
    for base in baseline.utterances:
        cand = cand_by_id.get(base.utt_id)
        if cand is None:
            continue
        if cand.reference_normalized != base.reference_normalized:
            mismatch += 1
            continue
        pairs.append((base, cand))
    if not pairs:
        raise ResultsError(f"no utterance in common between the runs ({len(baseline.utterances)} and "
                           f"{len(candidate.utterances)} utterances, {mismatch} with different references)")
    overall = _compare_slice(pairs, ALL, ALL, g, g.max_wer_rise_points, gated=True)
    slices = tuple(_slice_comparisons(pairs, g))
    latency = check_latency(
        percentile([clip.latency_ms for b, _ in pairs for clip in b.clips], 95),
        percentile([clip.latency_ms for _, c in pairs for clip in c.clips], 95),
        baseline_host=baseline.host, candidate_host=candidate.host, tolerance=g.p95_tolerance,
        max_p95_ms=g.max_p95_latency_ms, across_hosts=g.latency_across_hosts,
    )
    failures = [s.failure for s in (overall, *slices) if s.failure]
    failures += latency.failures
    shared_ids = {b.utt_id for b, _ in pairs}
    return Comparison(
        baseline=_name(baseline, "baseline"), candidate=_name(candidate, "candidate"),
        shared=len(pairs),
        only_baseline=sum(1 for u in baseline.utterances if u.utt_id not in cand_by_id),
        only_candidate=sum(1 for u in candidate.utterances if u.utt_id not in shared_ids) - mismatch,
        reference_mismatch=mismatch, overall=overall, slices=slices, latency=latency,
        settings_differences=tuple(settings_differences(baseline.recorded_settings(),
                                                        candidate.recorded_settings())),
        min_slice_utterances=g.min_slice_utterances, failures=tuple(failures),
    )


def _slice_comparisons(pairs: Sequence[tuple[UtteranceRecord, UtteranceRecord]], g: Gates) -> list[SliceComparison]:
    keys = sorted({k for b, _ in pairs for k in b.slices})
    out: list[SliceComparison] = []
    for key in keys:
        for value in sorted({v for b, _ in pairs for v in b.slices.get(key, ())}):
            members = [(b, c) for b, c in pairs if b.in_slice(key, value)]
            gated = len(members) >= g.min_slice_utterances
            out.append(_compare_slice(members, key, value, g, g.max_slice_wer_rise_points, gated=gated))
    return out


def _compare_slice(
    pairs: Sequence[tuple[UtteranceRecord, UtteranceRecord]], key: str, value: str, g: Gates,
    max_rise_points: float, *, gated: bool,
) -> SliceComparison:
    ref_words = [b.words.reference_length for b, _ in pairs]
    base_err = [b.words.errors for b, _ in pairs]
    cand_err = [c.words.errors for _, c in pairs]
    total = sum(ref_words)
    paired = paired_bootstrap(base_err, cand_err, ref_words, resamples=g.bootstrap.resamples,
                              seed=g.bootstrap.seed, confidence=g.bootstrap.confidence) if gated else None
    result = SliceComparison(
        key=key, value=value, utterances=len(pairs), reference_words=total,
        baseline_wer=sum(base_err) / total if total else None,
        candidate_wer=sum(cand_err) / total if total else None,
        paired=paired, gated=gated, failure=None,
    )
    rise = result.delta_points
    if not gated or rise is None or rise <= max_rise_points + 1e-9:
        return result
    if g.require_significance and (paired is None or paired.verdict != "worse"):
        return result
    failure = (f"{result.name}: WER rose {rise:.2f} points ({100 * (result.baseline_wer or 0):.2f}% -> "
               f"{100 * (result.candidate_wer or 0):.2f}%), the gate allows {max_rise_points:g}")
    return replace(result, failure=failure)
