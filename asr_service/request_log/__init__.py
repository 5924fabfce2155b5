"""The consented request log: results (and, with consent, audio) of sampled requests, kept on disk.

Why it exists: the clips where the model is unsure or silent are the ones to transcribe by hand and
to evaluate on. The server logs a result only when the client consented (``consent="results"``: text
and measurements, never audio; ``consent="audio"``: the clip's audio too) and `sampling_reason` picks
it (low confidence, no text, or a random share). Logging is off the request path (`RequestLog.submit`
only queues), crash-safe (a SIGKILL loses at most the rows in flight and corrupts nothing written
before), and purgeable (`purge` removes a subject's rows and audio everywhere, safely while a server
writes).

Store layout, one folder per day (UTC) of ``recorded_at``::

    DIR/.lock                        exclusive flock held by the writer and by purge while they touch files
    DIR/YYYY-MM-DD/manifest.jsonl    one clip a line, in the project's manifest / import format
    DIR/YYYY-MM-DD/feedback.jsonl    one user reaction (accepted, edited, retried, ...) a line
    DIR/YYYY-MM-DD/audio/*.wav       16-bit mono WAVs of the clips logged with consent "audio"

A manifest line, in the import format (``asr label import --from-log DIR`` sends the clips with audio to
review; after review, ``asr label export`` writes them with their reference, and ``asr eval --by
client_device`` slices on the flattened tags)::

    {"audio": "audio/req-7-0-3f9a1c2e.wav", "utt_id": "req-7/0", "text": "turn left at the lights",
     "reference": null, "confidence": 0.31, "model_version": "...", "model_id": "whisper-tiny.en",
     "role": "primary", "request_id": "req-7", "clip_id": "c0", "clip_index": 0,
     "recorded_at": "2025-03-14T09:30:00.123Z", "null_reason": "NONE", "audio_stats": {...}, "vad": {...},
     "latency_ms": 84.2, "consent": "audio", "subject_id": "u-51", "sampled_because": "low_confidence",
     "client_tags": {"device": "pixel-8"}, "duration": 2.4, "client_device": "pixel-8"}

``audio`` is relative to the manifest's folder and present only with consent "audio"; ``text`` is the
model's hypothesis (redacted when ``[request_log] redact``); there is no reference transcript yet, so
``reference`` is null, and ``asr eval`` refuses the row rather than score the model against itself.
A feedback line holds ``utt_id``, ``request_id``, ``clip_id``, ``clip_index``, ``action``,
``edited_text``, ``recorded_at``, ``subject_id``, ``consent`` and ``client_tags``.

Retention: a partition is deleted once its day began `retention_days` ago; past `max_bytes` the
oldest partitions go first, never today's; with today's alone past it, logging pauses until a new day
or a purge. ``asr logs purge`` and ``asr logs stats`` (asr_service/cli/_logs.py) work on the store.
"""

from asr_service.request_log._entry import LogEntry
from asr_service.request_log._redact import redact
from asr_service.request_log._sampling import sampling_reason
from asr_service.request_log._store import PurgeResult, StoreStats, purge, read_rows, store_stats
from asr_service.request_log._writer import RequestLog

__all__ = [
    "LogEntry",
    "PurgeResult",
    "RequestLog",
    "StoreStats",
    "purge",
    "read_rows",
    "redact",
    "sampling_reason",
    "store_stats",
]
