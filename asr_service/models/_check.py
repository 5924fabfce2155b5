"""`asr models check`: two engines on the same manifest, clip by clip: token agreement, WER and latency.

Each usable manifest row is read as one clip (the whole file, or its `start_s`/`end_s` segment; no
VAD, so both engines see exactly the same samples) and transcribed by both engines in turn.

What is compared:

- **token agreement**: the share of clips whose greedy outputs are the same token sequence. The
  `Engine` protocol returns text, not ids, so each text is encoded with the first model's tokenizer
  (`tokenizer.json`); equal ids mean equal text. Timestamp tokens are not compared (they never reach the text).
- **token edit agreement**: 1 - (token edits between the two outputs, summed) / (tokens of the longer
  output, summed): how much of the text agrees when it differs.
- **WER** of each against the manifest's references, after the normaliser (`whisper-digits` by
  default), errors summed over clips as `asr eval` does.
- **latency** of each, per clip (p50/p95), measured in the same run, clip by clip in turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

import vad
from asr_service.engines import Engine
from asr_service.evaluation.manifest import Utterance, load_manifest
from asr_service.evaluation.normalizers import DEFAULT_NORMALIZER, get_normalizer
from asr_service.evaluation.scoring import ErrorCounts, score
from asr_service.evaluation.transcription import AudioSpan

__all__ = ["CheckReport", "ClipComparison", "check_engines", "manifest_clips", "token_edit_distance"]

# A correct conversion run at the same precision agrees on every clip; 0.98 leaves room for the few
# near ties that int8 (the default engine) and float32/bfloat16 (transformers) break differently
# (measured: docs/models.md, "From a checkpoint to a canary").
DEFAULT_MIN_AGREEMENT = 0.98


@dataclass(frozen=True, kw_only=True)
class ClipComparison:
    """One clip through both engines."""

    utt_id: str
    duration_s: float
    reference: str
    texts: tuple[str, str]
    tokens: tuple[tuple[int, ...], tuple[int, ...]]
    latency_ms: tuple[float, float]

    @property
    def same_tokens(self) -> bool:
        """Both engines produced the same token sequence."""
        return self.tokens[0] == self.tokens[1]

    @property
    def token_edits(self) -> int:
        """Insertions, deletions and substitutions from the first engine's tokens to the second's."""
        return token_edit_distance(self.tokens[0], self.tokens[1])


@dataclass(frozen=True, kw_only=True)
class CheckReport:
    """Agreement, WER and latency of two engines over a manifest's clips."""

    names: tuple[str, str]  # each engine's model version
    normalizer: str
    clips: list[ClipComparison]
    wer_counts: tuple[ErrorCounts, ErrorCounts]
    skipped: list[str] = field(default_factory=list)  # rows that could not be read, with the reason

    @property
    def token_agreement(self) -> float:
        """Share of clips with identical token sequences (1.0 for no clips)."""
        return sum(c.same_tokens for c in self.clips) / len(self.clips) if self.clips else 1.0

    @property
    def token_edit_agreement(self) -> float:
        """1 - summed token edits / summed length of the longer output (1.0 when both are empty)."""
        longest = sum(max(len(c.tokens[0]), len(c.tokens[1])) for c in self.clips)
        return 1.0 - sum(c.token_edits for c in self.clips) / longest if longest else 1.0

    def wer(self, which: int) -> float | None:
        """The WER (percent) of engine 0 or 1; None without reference words."""
        rate = self.wer_counts[which].rate
        return None if rate is None else 100.0 * rate

    def latency_ms(self, which: int, percentile: float, *, max_duration_s: float | None = None) -> float | None:
        """A percentile of engine 0's or 1's clip latency, over the clips of at most `max_duration_s`."""
        values = [c.latency_ms[which] for c in self.clips if max_duration_s is None or c.duration_s <= max_duration_s]
        return float(np.percentile(values, percentile)) if values else None

    def to_json(self) -> dict[str, Any]:
        """The report as `asr models check --json` prints it."""
        def rounded(value: float | None, digits: int = 2) -> float | None:
            return None if value is None else round(value, digits)

        engines = [{"model_version": self.names[i], "wer": rounded(self.wer(i)),
                    "latency_ms": {"p50": rounded(self.latency_ms(i, 50), 1), "p95": rounded(self.latency_ms(i, 95), 1),
                                   "p50_clips_le_8s": rounded(self.latency_ms(i, 50, max_duration_s=8.0), 1),
                                   "p95_clips_le_8s": rounded(self.latency_ms(i, 95, max_duration_s=8.0), 1)}}
                   for i in (0, 1)]
        return {"clips": len(self.clips), "token_agreement": round(self.token_agreement, 4),
                "token_edit_agreement": round(self.token_edit_agreement, 4), "normalizer": self.normalizer,
                "engines": engines, "skipped": self.skipped,
                "differing": [{"utt_id": c.utt_id, "texts": list(c.texts), "token_edits": c.token_edits}
                              for c in self.clips if not c.same_tokens]}


def manifest_clips(manifest: str | Path) -> tuple[list[tuple[Utterance, Any]], list[str]]:
    """Each usable row of `manifest` with its 16 kHz float32 samples, and the rows left out (line: reason)."""
    loaded = load_manifest(manifest)
    skipped = [f"line {p.line}: {p.reason}" for p in loaded.problems]
    clips: list[tuple[Utterance, Any]] = []
    for utt in loaded.utterances:
        try:
            pcm = AudioSpan(path=utt.audio_path, start_s=utt.start_s, end_s=utt.end_s).read()
        except vad.VadError as exc:
            skipped.append(f"line {utt.line}: unreadable audio: {exc}")
            continue
        clips.append((utt, pcm.astype(np.float32) / 32768.0))
    return clips, skipped


def check_engines(
    engines: tuple[Engine, Engine],
    manifest: str | Path,
    *,
    tokenizer_file: str | Path,
    normalizer: str = DEFAULT_NORMALIZER,
    limit: int | None = None,
    progress: Callable[[], None] | None = None,
    on_clips: Callable[[int], None] | None = None,
) -> CheckReport:
    """Transcribe every clip of `manifest` with both engines (in turn, clip by clip) and compare them.

    `tokenizer_file` encodes both texts (the first model's `tokenizer.json`); `limit` keeps the first N
    clips; `on_clips` is told how many clips there are before the first, `progress` after each.
    """
    normalize = get_normalizer(normalizer)
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    clips, skipped = manifest_clips(manifest)
    clips = clips[:limit] if limit is not None else clips
    if on_clips is not None:
        on_clips(len(clips))
    compared: list[ClipComparison] = []
    counts: tuple[list[ErrorCounts], list[ErrorCounts]] = ([], [])
    for utt, audio in clips:
        texts: list[str] = []
        latencies: list[float] = []
        for engine in engines:
            start = time.perf_counter()
            texts.append(engine.transcribe(audio).text)
            latencies.append(1000.0 * (time.perf_counter() - start))
        reference = normalize(utt.text)
        for i in (0, 1):
            counts[i].append(score(reference, normalize(texts[i])).words)
        tokens = tuple(tuple(tokenizer.encode(" " + t, add_special_tokens=False).ids) if t else () for t in texts)
        compared.append(ClipComparison(utt_id=utt.utt_id, duration_s=audio.shape[0] / vad.SAMPLE_RATE_HZ,
                                       reference=utt.text, texts=(texts[0], texts[1]), tokens=(tokens[0], tokens[1]),
                                       latency_ms=(latencies[0], latencies[1])))
        if progress is not None:
            progress()
    return CheckReport(names=(engines[0].info.model_version, engines[1].info.model_version), normalizer=normalizer,
                       clips=compared, wer_counts=(ErrorCounts.total(counts[0]), ErrorCounts.total(counts[1])),
                       skipped=skipped)


def token_edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance between two token sequences (unit costs)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, token in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (token != other)))
        previous = current
    return previous[-1]

