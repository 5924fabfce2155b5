"""The WAV the browser test plays as its microphone, and the clips vad/ cuts from it: built from the
shared speech (never copied into the repository), so the browser test and the JS VAD test use the same."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray

from vad import Segmenter, VadOptions, read_audio

__all__ = ["SPEECH_UTTERANCES", "SpeechWav", "build_speech_wav", "python_clips"]

SPEECH_UTTERANCES = (
    "audio/faster-whisper/libritts_260_123286_000003_000002.wav",
    "audio/deepspeech/ldc93s1_timit_sa1.wav",
    "audio/deepspeech/ds_arctic_a0024.wav",
    "audio/mfa/librispeech_61-70968-0000.wav",
    "audio/speechbrain/sb_single_mic_example1.wav",
    "audio/picovoice/pv_cheetah_test_en.wav",
)
"""Six read utterances of 3-6 s from six sources (the clips the 300 ms target is about: 8 s or less)."""

_LEAD_S = 0.5
_GAP_S = 1.2  # longer than min_silence_ms + padding: one utterance never runs into the next
_TAIL_S = 1.5


@dataclass(frozen=True)
class SpeechWav:
    """A 16 kHz mono WAV of the utterances with silence between them, and their references in order."""

    path: Path
    references: tuple[str, ...]
    duration_s: float


def build_speech_wav(shared_speech: Path, rows: list[dict[str, object]], out: Path) -> SpeechWav:
    """Write the utterances of SPEECH_UTTERANCES, in order, with silences, to `out`."""
    by_audio = {row["audio"]: row for row in rows}
    parts = [np.zeros(round(_LEAD_S * 16000), dtype=np.int16)]
    references = []
    for name in SPEECH_UTTERANCES:
        parts.append(read_audio(shared_speech / name))
        parts.append(np.zeros(round((_GAP_S if len(references) < len(SPEECH_UTTERANCES) - 1 else _TAIL_S) * 16000),
                              dtype=np.int16))
        references.append(str(by_audio[name]["text"]))
    pcm = np.concatenate(parts)
    sf.write(out, pcm, 16000, subtype="PCM_16")
    return SpeechWav(out, tuple(references), pcm.size / 16000)


def python_clips(audio: Path | NDArray[np.int16], options: VadOptions) -> list[dict[str, Any]]:
    """The clips `vad.Segmenter` cuts from a WAV (or 16 kHz samples), as the JS test compares them (sample
    positions, stats, a hash of the samples)."""
    segmenter = Segmenter(options)
    clips = [*segmenter.push(read_audio(audio) if isinstance(audio, Path) else audio), *segmenter.flush()]
    return [{"index": c.index, "start_sample": round(c.start_s * 16000), "end_sample": round(c.end_s * 16000),
             "start_s": c.start_s, "end_s": c.end_s, "speech_start_s": c.speech_start_s,
             "speech_end_s": c.speech_end_s, "pcm_sha256": hashlib.sha256(c.to_bytes()).hexdigest(),
             "stats": {"speech_ratio": c.stats.speech_ratio, "pre_padding_ms": c.stats.pre_padding_ms,
                       "post_padding_ms": c.stats.post_padding_ms, "gain_db": c.stats.gain_db,
                       "split": c.stats.split, "rms_dbfs": c.stats.rms_dbfs, "peak_dbfs": c.stats.peak_dbfs}}
            for c in clips]
