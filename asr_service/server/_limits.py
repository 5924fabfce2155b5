"""What a client may send, checked before it reaches the recognizer, a log line or a metric.

- Client strings (`request_id`, `clip_id`, `model_id`): at most `ServerConfig.max_id_chars` characters,
  no control characters. A newline in an id would forge a log line; a 4 MiB id would write 4 MiB of
  log per request, and a 100 KB model id echoed in an error made the reply too large to send.
- The client VAD's figures: finite and in range. One NaN speech ratio poisoned the input-distribution
  metrics for good.
- Streams: a message at least every `stream_idle_timeout_s` (the first within
  `stream_first_message_timeout_s`), at most `stream_max_duration_s` in all and `stream_max_clips`
  clips. A client that opens streams and sends nothing holds a task and a socket each; without these
  limits 10,000 such streams stayed open for good and held every shutdown for its whole drain.
"""

from __future__ import annotations

import asyncio
import math
import time
import unicodedata
from collections.abc import AsyncIterator
from typing import TypeVar

from asr_service.config import ServerConfig
from asr_service.errors import ProtocolError, StreamLimitError
from asr_service.recognizer import VadStats

__all__ = ["checked_id", "checked_vad", "for_log", "limited_stream"]

_T = TypeVar("_T")
_LOG_CHARS = 64


def checked_id(name: str, value: str, config: ServerConfig) -> str:
    """`value` when it is a usable id; ProtocolError naming `name` otherwise (the value is not echoed)."""
    if len(value) > config.max_id_chars:
        raise ProtocolError(f"{name}: {len(value)} characters; at most {config.max_id_chars} are accepted")
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise ProtocolError(f"{name}: control characters (newlines, tabs ...) are not allowed")
    return value


def for_log(value: str, limit: int = _LOG_CHARS) -> str:
    """A client string as it may appear in a log line: escaped, and cut to `limit` characters."""
    escaped = value.encode("unicode_escape").decode("ascii")
    return escaped if len(escaped) <= limit else f"{escaped[:limit]}...({len(value)} chars)"


def checked_vad(vad: VadStats | None) -> VadStats | None:
    """The client VAD's figures when they are finite and in range; ProtocolError naming the field."""
    if vad is None:
        return None
    bounds = {"speech_ratio": (0.0, 1.0), "pre_padding_ms": (0, 3_600_000), "post_padding_ms": (0, 3_600_000),
              "gain_db": (-200.0, 200.0), "start_s": (0.0, 1e9)}
    for name, (low, high) in bounds.items():
        value = float(getattr(vad, name))
        if not math.isfinite(value) or not low <= value <= high:
            raise ProtocolError(f"vad_stats.{name}: {value!r} is not a finite number in [{low:g}, {high:g}]")
    return vad


async def limited_stream(requests: AsyncIterator[_T], config: ServerConfig) -> AsyncIterator[_T]:
    """The messages of a stream, cut with StreamLimitError when the client goes quiet for too long or
    the stream outlives `stream_max_duration_s`."""
    started = time.monotonic()
    iterator = aiter(requests)
    timeout = config.stream_first_message_timeout_s
    sent_any = False
    while True:
        left = config.stream_max_duration_s - (time.monotonic() - started)
        if left <= 0:
            raise StreamLimitError(f"stream: open for {config.stream_max_duration_s:g} s, the most a stream may "
                                   "last (stream_max_duration_s); open a new one")
        try:
            async with asyncio.timeout(min(timeout, left)):  # no task per message, unlike wait_for
                request = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if time.monotonic() - started >= config.stream_max_duration_s:
                continue  # reported at the top of the loop
            if not sent_any:
                raise StreamLimitError(f"stream: no first message within {timeout:g} s "
                                       "(stream_first_message_timeout_s)") from None
            raise StreamLimitError(f"stream: no message for {timeout:g} s; the server closes quiet streams "
                                   "(stream_idle_timeout_s); open a new one when there is speech") from None
        sent_any = True
        yield request
        timeout = config.stream_idle_timeout_s
