"""Figures over a set of utterances (the whole selection, or one slice): WER/CER with bootstrap
intervals, error counts, latency percentiles and null rate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from asr_service.evaluation.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, Interval, bootstrap_rate
from asr_service.evaluation.records import UtteranceRecord
from asr_service.evaluation.scoring import ErrorCounts

__all__ = ["ALL", "BootstrapOptions", "SliceSummary", "percentile", "slice_summaries", "summarize"]

ALL = "all"  # the key (and value) of the overall summary


@dataclass(frozen=True, kw_only=True)
class BootstrapOptions:
    """How intervals are drawn."""

    resamples: int = DEFAULT_RESAMPLES
    seed: int = DEFAULT_SEED
    confidence: float = 0.95


@dataclass(frozen=True, kw_only=True)
class SliceSummary:
    """The figures of one slice (``key`` = ``value``), or of everything (``all`` = ``all``)."""

    key: str
    value: str
    utterances: int
    words: ErrorCounts
    chars: ErrorCounts
    wer: float | None
    wer_ci: Interval | None
    cer: float | None
    cer_ci: Interval | None
    clips: int
    null_clips: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    over_budget_clips: int

    @property
    def null_rate(self) -> float | None:
        """Share of clips answered with no text."""
        return self.null_clips / self.clips if self.clips else None

    @property
    def name(self) -> str:
        """``key=value`` (``all`` for the overall summary)."""
        return ALL if self.key == ALL else f"{self.key}={self.value}"

    def to_json(self) -> dict[str, Any]:
        """As written in results.json."""
        return {
            "key": self.key, "value": self.value, "utterances": self.utterances,
            "reference_words": self.words.reference_length,
            "substitutions": self.words.substitutions, "deletions": self.words.deletions,
            "insertions": self.words.insertions, "hits": self.words.hits,
            "wer": self.wer, "wer_ci95": _interval_json(self.wer_ci),
            "reference_chars": self.chars.reference_length, "char_errors": self.chars.errors,
            "char_counts": self.chars.to_json(),
            "cer": self.cer, "cer_ci95": _interval_json(self.cer_ci),
            "clips": self.clips, "null_clips": self.null_clips, "null_rate": self.null_rate,
            "latency_p50_ms": self.latency_p50_ms, "latency_p95_ms": self.latency_p95_ms,
            "over_budget_clips": self.over_budget_clips,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SliceSummary:
        """From `to_json`'s output."""
        return cls(
            key=str(data["key"]), value=str(data["value"]), utterances=int(data["utterances"]),
            words=ErrorCounts(hits=int(data["hits"]), substitutions=int(data["substitutions"]),
                              deletions=int(data["deletions"]), insertions=int(data["insertions"])),
            chars=ErrorCounts.from_json(data["char_counts"]),
            wer=data["wer"], wer_ci=_interval(data.get("wer_ci95")),
            cer=data["cer"], cer_ci=_interval(data.get("cer_ci95")),
            clips=int(data["clips"]), null_clips=int(data["null_clips"]),
            latency_p50_ms=data.get("latency_p50_ms"), latency_p95_ms=data.get("latency_p95_ms"),
            over_budget_clips=int(data.get("over_budget_clips", 0)),
        )


def _interval_json(ci: Interval | None) -> list[float] | None:
    return [ci.low, ci.high] if ci else None


def _interval(data: Sequence[float] | None) -> Interval | None:
    return Interval(low=float(data[0]), high=float(data[1])) if data else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), None for no values."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else None


def summarize(
    records: Sequence[UtteranceRecord], *, key: str = ALL, value: str = ALL,
    bootstrap: BootstrapOptions | None = None, budget_ms: float,
) -> SliceSummary:
    """Corpus-level figures over `records` (errors summed, then divided), with bootstrap intervals."""
    boot = bootstrap or BootstrapOptions()
    words = ErrorCounts.total(r.words for r in records)
    chars = ErrorCounts.total(r.chars for r in records)
    latencies = [c.latency_ms for r in records for c in r.clips]

    def interval(counts: list[ErrorCounts]) -> Interval | None:
        return bootstrap_rate([c.errors for c in counts], [c.reference_length for c in counts],
                              resamples=boot.resamples, seed=boot.seed, confidence=boot.confidence)

    return SliceSummary(
        key=key, value=value, utterances=len(records), words=words, chars=chars,
        wer=words.rate, wer_ci=interval([r.words for r in records]),
        cer=chars.rate, cer_ci=interval([r.chars for r in records]),
        clips=len(latencies), null_clips=sum(r.null_clips for r in records),
        latency_p50_ms=percentile(latencies, 50), latency_p95_ms=percentile(latencies, 95),
        over_budget_clips=sum(1 for ms in latencies if ms > budget_ms),
    )


def slice_summaries(
    records: Sequence[UtteranceRecord], by: Sequence[str], *,
    bootstrap: BootstrapOptions | None = None, budget_ms: float,
) -> list[SliceSummary]:
    """One summary per (key, value) of the `by` keys, ordered by key then value."""
    out: list[SliceSummary] = []
    for key in by:
        values = sorted({v for r in records for v in r.slices.get(key, ())})
        for value in values:
            members = [r for r in records if r.in_slice(key, value)]
            out.append(summarize(members, key=key, value=value, bootstrap=bootstrap, budget_ms=budget_ms))
    return out
