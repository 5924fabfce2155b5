from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_ENCODING_UNSPECIFIED: _ClassVar[AudioEncoding]
    LINEAR16: _ClassVar[AudioEncoding]
    FLAC: _ClassVar[AudioEncoding]
    OGG_OPUS: _ClassVar[AudioEncoding]

class LoggingConsent(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOGGING_CONSENT_UNSPECIFIED: _ClassVar[LoggingConsent]
    LOGGING_CONSENT_NONE: _ClassVar[LoggingConsent]
    LOGGING_CONSENT_RESULTS_ONLY: _ClassVar[LoggingConsent]
    LOGGING_CONSENT_AUDIO_AND_RESULTS: _ClassVar[LoggingConsent]

class NullReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NULL_REASON_UNSPECIFIED: _ClassVar[NullReason]
    EMPTY_AUDIO: _ClassVar[NullReason]
    TOO_QUIET: _ClassVar[NullReason]
    NO_SPEECH: _ClassVar[NullReason]
    HALLUCINATION_SUPPRESSED: _ClassVar[NullReason]

class FeedbackAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FEEDBACK_ACTION_UNSPECIFIED: _ClassVar[FeedbackAction]
    FEEDBACK_ACTION_ACCEPTED: _ClassVar[FeedbackAction]
    FEEDBACK_ACTION_EDITED: _ClassVar[FeedbackAction]
    FEEDBACK_ACTION_RETRIED: _ClassVar[FeedbackAction]
    FEEDBACK_ACTION_SWITCHED_TO_TYPING: _ClassVar[FeedbackAction]
AUDIO_ENCODING_UNSPECIFIED: AudioEncoding
LINEAR16: AudioEncoding
FLAC: AudioEncoding
OGG_OPUS: AudioEncoding
LOGGING_CONSENT_UNSPECIFIED: LoggingConsent
LOGGING_CONSENT_NONE: LoggingConsent
LOGGING_CONSENT_RESULTS_ONLY: LoggingConsent
LOGGING_CONSENT_AUDIO_AND_RESULTS: LoggingConsent
NULL_REASON_UNSPECIFIED: NullReason
EMPTY_AUDIO: NullReason
TOO_QUIET: NullReason
NO_SPEECH: NullReason
HALLUCINATION_SUPPRESSED: NullReason
FEEDBACK_ACTION_UNSPECIFIED: FeedbackAction
FEEDBACK_ACTION_ACCEPTED: FeedbackAction
FEEDBACK_ACTION_EDITED: FeedbackAction
FEEDBACK_ACTION_RETRIED: FeedbackAction
FEEDBACK_ACTION_SWITCHED_TO_TYPING: FeedbackAction

class AudioFormat(_message.Message):
    __slots__ = ("encoding", "sample_rate_hz", "channels")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    encoding: AudioEncoding
    sample_rate_hz: int
    channels: int
    def __init__(self, encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., channels: _Optional[int] = ...) -> None: ...

class VadStats(_message.Message):
    __slots__ = ("speech_ratio", "pre_padding_ms", "post_padding_ms", "gain_db", "split", "start_s")
    SPEECH_RATIO_FIELD_NUMBER: _ClassVar[int]
    PRE_PADDING_MS_FIELD_NUMBER: _ClassVar[int]
    POST_PADDING_MS_FIELD_NUMBER: _ClassVar[int]
    GAIN_DB_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    START_S_FIELD_NUMBER: _ClassVar[int]
    speech_ratio: float
    pre_padding_ms: int
    post_padding_ms: int
    gain_db: float
    split: bool
    start_s: float
    def __init__(self, speech_ratio: _Optional[float] = ..., pre_padding_ms: _Optional[int] = ..., post_padding_ms: _Optional[int] = ..., gain_db: _Optional[float] = ..., split: _Optional[bool] = ..., start_s: _Optional[float] = ...) -> None: ...

class RecognitionConfig(_message.Message):
    __slots__ = ("format", "model_id", "logging_consent", "subject_id", "client_tags", "language", "revisions")
    class ClientTagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    LOGGING_CONSENT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TAGS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    format: AudioFormat
    model_id: str
    logging_consent: LoggingConsent
    subject_id: str
    client_tags: _containers.ScalarMap[str, str]
    language: str
    revisions: bool
    def __init__(self, format: _Optional[_Union[AudioFormat, _Mapping]] = ..., model_id: _Optional[str] = ..., logging_consent: _Optional[_Union[LoggingConsent, str]] = ..., subject_id: _Optional[str] = ..., client_tags: _Optional[_Mapping[str, str]] = ..., language: _Optional[str] = ..., revisions: _Optional[bool] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("request_id", "clip_id", "config", "audio", "vad_stats")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CLIP_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    VAD_STATS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    clip_id: str
    config: RecognitionConfig
    audio: bytes
    vad_stats: VadStats
    def __init__(self, request_id: _Optional[str] = ..., clip_id: _Optional[str] = ..., config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., audio: _Optional[bytes] = ..., vad_stats: _Optional[_Union[VadStats, _Mapping]] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("request_id", "result")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    result: RecognitionResult
    def __init__(self, request_id: _Optional[str] = ..., result: _Optional[_Union[RecognitionResult, _Mapping]] = ...) -> None: ...

class StreamingRecognizeRequest(_message.Message):
    __slots__ = ("request_id", "config", "audio")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    config: RecognitionConfig
    audio: AudioChunk
    def __init__(self, request_id: _Optional[str] = ..., config: _Optional[_Union[RecognitionConfig, _Mapping]] = ..., audio: _Optional[_Union[AudioChunk, _Mapping]] = ...) -> None: ...

class AudioChunk(_message.Message):
    __slots__ = ("clip_id", "data", "end_of_utterance", "vad_stats")
    CLIP_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    END_OF_UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    VAD_STATS_FIELD_NUMBER: _ClassVar[int]
    clip_id: str
    data: bytes
    end_of_utterance: bool
    vad_stats: VadStats
    def __init__(self, clip_id: _Optional[str] = ..., data: _Optional[bytes] = ..., end_of_utterance: _Optional[bool] = ..., vad_stats: _Optional[_Union[VadStats, _Mapping]] = ...) -> None: ...

class StreamingRecognizeResponse(_message.Message):
    __slots__ = ("request_id", "result", "revision")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    result: RecognitionResult
    revision: Revision
    def __init__(self, request_id: _Optional[str] = ..., result: _Optional[_Union[RecognitionResult, _Mapping]] = ..., revision: _Optional[_Union[Revision, _Mapping]] = ...) -> None: ...

class Revision(_message.Message):
    __slots__ = ("result_ids", "text", "model", "inference_ms")
    RESULT_IDS_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    result_ids: _containers.RepeatedScalarFieldContainer[str]
    text: str
    model: ModelRef
    inference_ms: float
    def __init__(self, result_ids: _Optional[_Iterable[str]] = ..., text: _Optional[str] = ..., model: _Optional[_Union[ModelRef, _Mapping]] = ..., inference_ms: _Optional[float] = ...) -> None: ...

class LatencyBreakdown(_message.Message):
    __slots__ = ("queue_wait_ms", "inference_ms", "server_total_ms", "budget_ms", "budget_exceeded")
    QUEUE_WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    SERVER_TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_EXCEEDED_FIELD_NUMBER: _ClassVar[int]
    queue_wait_ms: float
    inference_ms: float
    server_total_ms: float
    budget_ms: float
    budget_exceeded: bool
    def __init__(self, queue_wait_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ..., server_total_ms: _Optional[float] = ..., budget_ms: _Optional[float] = ..., budget_exceeded: _Optional[bool] = ...) -> None: ...

class AudioStats(_message.Message):
    __slots__ = ("duration_s", "rms_dbfs", "peak_dbfs", "clipped_ratio", "sample_rate_hz")
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    RMS_DBFS_FIELD_NUMBER: _ClassVar[int]
    PEAK_DBFS_FIELD_NUMBER: _ClassVar[int]
    CLIPPED_RATIO_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    duration_s: float
    rms_dbfs: float
    peak_dbfs: float
    clipped_ratio: float
    sample_rate_hz: int
    def __init__(self, duration_s: _Optional[float] = ..., rms_dbfs: _Optional[float] = ..., peak_dbfs: _Optional[float] = ..., clipped_ratio: _Optional[float] = ..., sample_rate_hz: _Optional[int] = ...) -> None: ...

class ModelRef(_message.Message):
    __slots__ = ("model_id", "model_version", "config_hash", "role")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_version: str
    config_hash: str
    role: str
    def __init__(self, model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., config_hash: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...

class RecognitionResult(_message.Message):
    __slots__ = ("clip_id", "text", "confidence", "is_final", "null_reason", "model", "latency", "audio", "no_speech_prob", "result_id", "language")
    CLIP_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    NULL_REASON_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    NO_SPEECH_PROB_FIELD_NUMBER: _ClassVar[int]
    RESULT_ID_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    clip_id: str
    text: str
    confidence: float
    is_final: bool
    null_reason: NullReason
    model: ModelRef
    latency: LatencyBreakdown
    audio: AudioStats
    no_speech_prob: float
    result_id: str
    language: str
    def __init__(self, clip_id: _Optional[str] = ..., text: _Optional[str] = ..., confidence: _Optional[float] = ..., is_final: _Optional[bool] = ..., null_reason: _Optional[_Union[NullReason, str]] = ..., model: _Optional[_Union[ModelRef, _Mapping]] = ..., latency: _Optional[_Union[LatencyBreakdown, _Mapping]] = ..., audio: _Optional[_Union[AudioStats, _Mapping]] = ..., no_speech_prob: _Optional[float] = ..., result_id: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("model_id", "model_version", "engine", "config_hash", "role", "is_default", "languages")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_HASH_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    model_version: str
    engine: str
    config_hash: str
    role: str
    is_default: bool
    languages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, model_id: _Optional[str] = ..., model_version: _Optional[str] = ..., engine: _Optional[str] = ..., config_hash: _Optional[str] = ..., role: _Optional[str] = ..., is_default: _Optional[bool] = ..., languages: _Optional[_Iterable[str]] = ...) -> None: ...

class ServerLimits(_message.Message):
    __slots__ = ("max_clip_s", "sample_rates_hz", "max_concurrent_requests", "budget_ms")
    MAX_CLIP_S_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATES_HZ_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    max_clip_s: float
    sample_rates_hz: _containers.RepeatedScalarFieldContainer[int]
    max_concurrent_requests: int
    budget_ms: float
    def __init__(self, max_clip_s: _Optional[float] = ..., sample_rates_hz: _Optional[_Iterable[int]] = ..., max_concurrent_requests: _Optional[int] = ..., budget_ms: _Optional[float] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "limits")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    limits: ServerLimits
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., limits: _Optional[_Union[ServerLimits, _Mapping]] = ...) -> None: ...

class ReportFeedbackRequest(_message.Message):
    __slots__ = ("result_id", "action", "edited_text", "model", "logging_consent", "subject_id")
    RESULT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    EDITED_TEXT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LOGGING_CONSENT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    result_id: str
    action: FeedbackAction
    edited_text: str
    model: ModelRef
    logging_consent: LoggingConsent
    subject_id: str
    def __init__(self, result_id: _Optional[str] = ..., action: _Optional[_Union[FeedbackAction, str]] = ..., edited_text: _Optional[str] = ..., model: _Optional[_Union[ModelRef, _Mapping]] = ..., logging_consent: _Optional[_Union[LoggingConsent, str]] = ..., subject_id: _Optional[str] = ...) -> None: ...

class ReportFeedbackResponse(_message.Message):
    __slots__ = ("logged",)
    LOGGED_FIELD_NUMBER: _ClassVar[int]
    logged: bool
    def __init__(self, logged: _Optional[bool] = ...) -> None: ...
