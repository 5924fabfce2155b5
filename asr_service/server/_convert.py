"""Translation between `asr.v1` messages and the recognizer's domain objects. Nothing else."""

from __future__ import annotations

from asr_service.audio import AudioFormat
from asr_service.config import ServerConfig
from asr_service.engines.base import EngineInfo
from asr_service.errors import InvalidAudioError
from asr_service.recognizer import RecognitionResult, Recognizer, VadStats
from asr_service.revisions import Revision
from protos.asr.v1 import asr_pb2

__all__ = ["audio_format", "list_models_response", "result_message", "revision_message", "vad_stats"]

# the wire's encodings as `AudioFormat.encoding` (asr_service.codecs.ENCODINGS)
_ENCODINGS = {asr_pb2.LINEAR16: "linear16", asr_pb2.FLAC: "flac", asr_pb2.OGG_OPUS: "ogg_opus"}


def audio_format(config: asr_pb2.RecognitionConfig) -> AudioFormat:
    """The declared format; raises InvalidAudioError naming the field when it is missing or unknown."""
    if not config.HasField("format"):
        raise InvalidAudioError("config.format: not set; declare encoding, sample_rate_hz and channels")
    fmt = config.format
    encoding = _ENCODINGS.get(fmt.encoding)
    if encoding is None:
        name = asr_pb2.AudioEncoding.Name(fmt.encoding) if fmt.encoding == 0 else str(fmt.encoding)
        accepted = ", ".join(asr_pb2.AudioEncoding.Name(e) for e in _ENCODINGS)
        raise InvalidAudioError(f"config.format.encoding: {name} is not supported (accepted: {accepted})")
    return AudioFormat(sample_rate_hz=fmt.sample_rate_hz, channels=fmt.channels or 1, encoding=encoding)


def vad_stats(owner: asr_pb2.RecognizeRequest | asr_pb2.AudioChunk) -> VadStats | None:
    """The client VAD's figures for a clip, or None when the message carries none."""
    if not owner.HasField("vad_stats"):
        return None
    message = owner.vad_stats
    return VadStats(
        speech_ratio=message.speech_ratio,
        pre_padding_ms=message.pre_padding_ms,
        post_padding_ms=message.post_padding_ms,
        gain_db=message.gain_db,
        split=message.split,
        start_s=message.start_s,
    )


def revision_message(revision: Revision, model: EngineInfo, role: str) -> asr_pb2.Revision:
    """A second pass's revision (asr_service/revisions.py) as an `asr.v1.Revision`."""
    return asr_pb2.Revision(
        result_ids=list(revision.result_ids), text=revision.text, inference_ms=revision.inference_ms,
        model=asr_pb2.ModelRef(model_id=model.model_id, model_version=model.model_version,
                               config_hash=model.config_hash, role=role),
    )


def result_message(result: RecognitionResult, *, result_id: str = "") -> asr_pb2.RecognitionResult:
    """A domain result as an `asr.v1.RecognitionResult` (`result_id`: what ReportFeedback names it by)."""
    return asr_pb2.RecognitionResult(
        result_id=result_id,
        clip_id=result.clip_id,
        text=result.text,
        confidence=result.confidence,
        is_final=True,
        null_reason=result.null_reason.value,  # type: ignore[arg-type]
        no_speech_prob=result.no_speech_prob,
        language=result.language,
        model=asr_pb2.ModelRef(
            model_id=result.model.model_id,
            model_version=result.model.model_version,
            config_hash=result.model.config_hash,
            role=result.role,
        ),
        latency=asr_pb2.LatencyBreakdown(
            queue_wait_ms=result.latency.queue_wait_ms,
            inference_ms=result.latency.inference_ms,
            server_total_ms=result.latency.server_total_ms,
            budget_ms=result.latency.budget_ms,
            budget_exceeded=result.latency.budget_exceeded,
        ),
        audio=asr_pb2.AudioStats(
            duration_s=result.audio.duration_s,
            rms_dbfs=result.audio.rms_dbfs,
            peak_dbfs=result.audio.peak_dbfs,
            clipped_ratio=result.audio.clipped_ratio,
            sample_rate_hz=result.audio.sample_rate_hz,
        ),
    )


def list_models_response(recognizers: list[Recognizer], config: ServerConfig) -> asr_pb2.ListModelsResponse:
    """The loaded models (the primary first: the default) and the server's limits."""
    return asr_pb2.ListModelsResponse(
        models=[
            asr_pb2.ModelInfo(
                model_id=r.info.model_id,
                model_version=r.info.model_version,
                engine=r.info.engine,
                config_hash=r.info.config_hash,
                role=r.role,
                is_default=i == 0,
                languages=list(r.info.languages),
            )
            for i, r in enumerate(recognizers)
        ],
        limits=asr_pb2.ServerLimits(
            max_clip_s=config.max_clip_s,
            sample_rates_hz=list(config.sample_rates_hz),
            max_concurrent_requests=config.max_concurrent_requests,
            budget_ms=config.budget_ms,
        ),
    )
