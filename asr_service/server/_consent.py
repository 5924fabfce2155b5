"""What a client allowed the server to keep of a request, and the hand-off of kept results to the request log.

The client says it in `RecognitionConfig` (`logging_consent`, `subject_id`, `client_tags`); without a
consent, or when the operator has not turned request logging on (`[request_log] dir`), nothing is
kept. Of the consented results, `sampling_reason` keeps the low-confidence ones, the nulls and a
random share. The hand-off (`RequestLog.submit`) never blocks: a full queue drops the row and counts
it. The audio (16 kHz mono int16, as the engine heard it) is kept only with AUDIO_AND_RESULTS.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from asr_service.audio import DecodedClip
from asr_service.config import ServerConfig
from asr_service.errors import ProtocolError
from asr_service.recognizer import NullReason, RecognitionResult
from asr_service.request_log import LogEntry, RequestLog, sampling_reason
from asr_service.server._limits import checked_id
from protos.asr.v1 import asr_pb2

__all__ = ["Consent", "ResultKeeper", "consent_of"]

MAX_TAGS = 16
MAX_TAG_VALUE_CHARS = 64
MAX_EDITED_TEXT_CHARS = 4096
_TAG_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_LEVELS: dict[int, Literal["results", "audio"] | None] = {
    asr_pb2.LOGGING_CONSENT_UNSPECIFIED: None,
    asr_pb2.LOGGING_CONSENT_NONE: None,
    asr_pb2.LOGGING_CONSENT_RESULTS_ONLY: "results",
    asr_pb2.LOGGING_CONSENT_AUDIO_AND_RESULTS: "audio",
}


@dataclass(frozen=True)
class Consent:
    """What may be kept: nothing (`level` None), the results, or the audio and results; and of whom."""

    level: Literal["results", "audio"] | None = None
    subject_id: str = ""
    client_tags: dict[str, str] = field(default_factory=dict)


NO_CONSENT = Consent()


def consent_of(level: int, subject_id: str, tags: dict[str, str] | None, config: ServerConfig,
               *, where: str = "config") -> Consent:
    """The consent a request carries; ProtocolError naming the field for a value the server refuses."""
    if level not in _LEVELS:
        raise ProtocolError(f"{where}.logging_consent: {level} is not a LoggingConsent value")
    subject = checked_id(f"{where}.subject_id", subject_id, config)
    checked: dict[str, str] = {}
    for key, value in (tags or {}).items():
        if len(checked) == MAX_TAGS:
            raise ProtocolError(f"{where}.client_tags: more than {MAX_TAGS} tags")
        if not _TAG_KEY.fullmatch(key):
            raise ProtocolError(f"{where}.client_tags: a key must be 1-32 lower-case letters, digits or underscores, "
                                "starting with a letter")
        if len(value) > MAX_TAG_VALUE_CHARS or any(unicodedata.category(c).startswith("C") for c in value):
            raise ProtocolError(f"{where}.client_tags[{key}]: at most {MAX_TAG_VALUE_CHARS} characters, no control "
                                "characters")
        checked[key] = value
    return Consent(level=_LEVELS[level], subject_id=subject, client_tags=checked)


class ResultKeeper:
    """Decides which consented results the request log keeps, and hands them over without waiting."""

    def __init__(self, log: RequestLog, config: ServerConfig, *, rng: random.Random | None = None) -> None:
        self._log = log
        self._options = config.request_log
        self._rng = rng or random.Random()

    def keep_clip(self, consent: Consent, *, request_id: str, clip_index: int, clip_id: str,
                  result: RecognitionResult, clip: DecodedClip | None) -> bool:
        """Queue a result (and, with audio consent, its audio) when consented and sampled; True when queued."""
        if consent.level is None:
            return False
        has_text = result.null_reason is NullReason.NONE
        reason = sampling_reason(self._options, confidence=result.confidence, has_text=has_text, rng=self._rng)
        if reason is None:
            return False
        pcm = None
        if consent.level == "audio" and clip is not None and clip.samples.size:
            pcm = (np.clip(clip.samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        audio = result.audio
        vad = result.vad
        return self._log.submit(LogEntry(
            kind="clip", recorded_at=datetime.now(UTC), request_id=request_id, clip_id=clip_id,
            clip_index=clip_index, consent=consent.level, subject_id=consent.subject_id,
            client_tags=consent.client_tags, text=result.text, confidence=result.confidence,
            null_reason=result.null_reason.name, model_id=result.model.model_id,
            model_version=result.model.model_version, role=result.role,
            audio_stats={"duration_s": audio.duration_s, "rms_dbfs": audio.rms_dbfs, "peak_dbfs": audio.peak_dbfs,
                         "clipped_ratio": audio.clipped_ratio, "sample_rate_hz": audio.sample_rate_hz},
            vad=None if vad is None else {"speech_ratio": vad.speech_ratio, "pre_padding_ms": vad.pre_padding_ms,
                                          "post_padding_ms": vad.post_padding_ms, "gain_db": vad.gain_db,
                                          "split": vad.split, "start_s": vad.start_s},
            latency_ms=result.latency.server_total_ms, sampled_because=reason, pcm=pcm, sample_rate_hz=16_000,
        ))

    def keep_feedback(self, consent: Consent, *, request_id: str, clip_index: int, action: str,
                      edited_text: str) -> bool:
        """Queue a user's feedback on a result (an edited text is a candidate reference); True when queued."""
        if consent.level is None:
            return False
        return self._log.submit(LogEntry(
            kind="feedback", recorded_at=datetime.now(UTC), request_id=request_id, clip_id="", clip_index=clip_index,
            consent=consent.level, subject_id=consent.subject_id, action=action, edited_text=edited_text,
        ))
