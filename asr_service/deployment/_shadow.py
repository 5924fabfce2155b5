"""The shadow's comparisons: what the shadow model said about the primary's clips, against the primary.

Each pair (the primary's result, the shadow's) adds to running totals: the word error rate of the
shadow's transcript taken against the primary's (both normalised as `asr eval` scores, by default
with the Whisper normaliser and digits), how often the two agree on "no text", their latencies and
confidences. The pairs that disagree most are kept for the report, but only what the client allowed
the server to keep: the texts with consent to keep results, the audio too with consent to keep audio
(`RecognitionConfig.logging_consent`); a clip without consent is counted and never kept.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asr_service.evaluation.normalizers import DEFAULT_NORMALIZER, get_normalizer
from asr_service.evaluation.scoring import format_alignment, score
from asr_service.recognizer import NullReason, RecognitionResult

__all__ = ["ShadowComparisons", "ShadowPair"]

_REPORT_CLIPS = 20  # the pairs that disagree most, kept for the report
_LATENCY_SAMPLES = 2000  # recent latencies kept per side, for the percentiles


@dataclass(frozen=True, kw_only=True)
class ShadowPair:
    """One clip both models transcribed, as the report shows it."""

    seq: int  # the pair's number in its shadow run: a stable id for the report and its audio
    at: float  # seconds since the epoch
    request_id: str
    clip_id: str
    primary_text: str
    shadow_text: str
    primary_null: str | None
    shadow_null: str | None
    word_errors: int
    reference_words: int
    aligned: tuple[str, str, str]  # the primary's line, the shadow's line, the marks (S, D, I)
    primary_ms: float
    shadow_ms: float
    primary_confidence: float
    shadow_confidence: float
    pcm: bytes | None = None  # 16 kHz mono 16-bit, only with consent to keep audio

    @property
    def disagreement(self) -> float:
        """Word errors per word of the primary's text (1.0 when only one of them has text)."""
        if self.reference_words == 0:
            return 0.0 if self.word_errors == 0 else 1.0
        return self.word_errors / self.reference_words

    def to_json(self) -> dict[str, Any]:
        """As the report and the admin API write it (without the audio)."""
        return {"id": self.seq, "at": self.at, "request_id": self.request_id, "clip_id": self.clip_id,
                "primary_text": self.primary_text, "shadow_text": self.shadow_text,
                "primary_null": self.primary_null, "shadow_null": self.shadow_null,
                "word_errors": self.word_errors, "reference_words": self.reference_words,
                "disagreement": round(self.disagreement, 4), "aligned": list(self.aligned),
                "primary_ms": round(self.primary_ms, 1), "shadow_ms": round(self.shadow_ms, 1),
                "primary_confidence": round(self.primary_confidence, 4),
                "shadow_confidence": round(self.shadow_confidence, 4), "has_audio": self.pcm is not None}


@dataclass
class ShadowComparisons:
    """Running totals of one shadow run (one shadow model, from `set_shadow` until it stops)."""

    model_id: str
    model_version: str
    primary_version: str
    sample: float
    started_at: float = field(default_factory=time.time)
    offered: int = 0  # primary results sampled for the shadow
    dropped_busy: int = 0  # ... not run: no spare capacity at the time
    failed: int = 0  # ... run, but the shadow model failed
    compared: int = 0
    word_errors: int = 0
    reference_words: int = 0
    null_both: int = 0
    null_primary_only: int = 0
    null_shadow_only: int = 0
    not_kept: int = 0  # pairs that disagreed, not kept for the report (no consent)
    _latency_primary: list[float] = field(default_factory=list)
    _latency_shadow: list[float] = field(default_factory=list)
    _confidence_primary: float = 0.0
    _confidence_shadow: float = 0.0
    _texts_both: int = 0
    _worst: list[tuple[float, int, ShadowPair]] = field(default_factory=list)  # a min-heap of (disagreement, seq)
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, primary: RecognitionResult, shadow: RecognitionResult, *, request_id: str, keep_text: bool,
            pcm: bytes | None) -> ShadowPair:
        """Compare one pair; `keep_text` and `pcm` say what the client allows to be kept for the report."""
        normalise = get_normalizer(DEFAULT_NORMALIZER)
        reference, hypothesis = normalise(primary.text), normalise(shadow.text)
        scored = score(reference, hypothesis)
        errors = scored.words.substitutions + scored.words.deletions + scored.words.insertions
        pair = ShadowPair(
            seq=next(self._order), at=time.time(), request_id=request_id, clip_id=primary.clip_id,
            primary_text=primary.text,
            shadow_text=shadow.text, primary_null=primary.null_reason.to_json(),
            shadow_null=shadow.null_reason.to_json(),
            word_errors=errors, reference_words=len(reference.split()),
            aligned=format_alignment(scored.alignment) if scored.alignment else ("", "", ""),
            primary_ms=primary.latency.inference_ms, shadow_ms=shadow.latency.inference_ms,
            primary_confidence=primary.confidence, shadow_confidence=shadow.confidence, pcm=pcm)
        with self._lock:
            self.compared += 1
            self.word_errors += errors
            self.reference_words += pair.reference_words
            p_null, s_null = primary.null_reason is not NullReason.NONE, shadow.null_reason is not NullReason.NONE
            self.null_both += p_null and s_null
            self.null_primary_only += p_null and not s_null
            self.null_shadow_only += s_null and not p_null
            for samples, value in ((self._latency_primary, pair.primary_ms), (self._latency_shadow, pair.shadow_ms)):
                samples.append(value)
                if len(samples) > _LATENCY_SAMPLES:
                    del samples[: len(samples) - _LATENCY_SAMPLES]
            if primary.text and shadow.text:
                self._texts_both += 1
                self._confidence_primary += primary.confidence
                self._confidence_shadow += shadow.confidence
            if errors:
                if keep_text:
                    entry = (pair.disagreement, pair.seq, pair)  # the heap drops the least, and of equals the oldest
                    if len(self._worst) < _REPORT_CLIPS:
                        heapq.heappush(self._worst, entry)
                    else:
                        heapq.heappushpop(self._worst, entry)
                else:
                    self.not_kept += 1
        return pair

    def worst(self) -> list[ShadowPair]:
        """The kept pairs that disagree most, worst first."""
        with self._lock:
            return [pair for _, _, pair in sorted(self._worst, key=lambda e: (-e[0], -e[1]))]  # newer first

    def kept(self, seq: int) -> ShadowPair | None:
        """The kept pair with id `seq` (None when it was never kept, or a worse pair has pushed it out)."""
        with self._lock:
            return next((pair for _, _, pair in self._worst if pair.seq == seq), None)

    def summary(self) -> dict[str, Any]:
        """Totals and figures, for the state, the dashboard and the report."""
        with self._lock:
            agree = self.compared - self.null_primary_only - self.null_shadow_only
            return {
                "model_id": self.model_id, "model_version": self.model_version,
                "primary_version": self.primary_version, "sample": self.sample, "started_at": self.started_at,
                "offered": self.offered, "dropped_busy": self.dropped_busy, "failed": self.failed,
                "compared": self.compared,
                "coverage": self.compared / self.offered if self.offered else None,
                "wer_vs_primary": self.word_errors / self.reference_words if self.reference_words else None,
                "null_agreement": agree / self.compared if self.compared else None,
                "null_primary_only": self.null_primary_only, "null_shadow_only": self.null_shadow_only,
                # the engines' inference time (not the server total: the shadow's has no queue or network)
                "primary_p50_ms": _percentile(self._latency_primary, 50),
                "primary_p95_ms": _percentile(self._latency_primary, 95),
                "shadow_p50_ms": _percentile(self._latency_shadow, 50),
                "shadow_p95_ms": _percentile(self._latency_shadow, 95),
                "primary_mean_confidence": self._confidence_primary / self._texts_both if self._texts_both else None,
                "shadow_mean_confidence": self._confidence_shadow / self._texts_both if self._texts_both else None,
                "disagreeing_not_kept": self.not_kept,
            }


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None
