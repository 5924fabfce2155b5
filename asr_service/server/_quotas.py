"""Per-client quotas: one client cannot take the whole server.

A client is the name its token carries (`auth_tokens_file`); without tokens there are no per-client
quotas (an address is no identity behind a proxy or a load balancer, where every call comes from
the proxy's address, and the server-wide `max_concurrent_requests` still holds). Each may have at most
`ServerConfig.client_concurrency` clips in flight (half of `max_concurrent_requests` by default, so a
client that floods the server leaves the other half to everyone else) and, when
`client_max_clips_per_s` is set, at most that many clips a second (a token bucket holding one
second's worth). Past either: `OverloadedError` (RESOURCE_EXHAUSTED) with a retry hint in the
message and in the `retry-after-ms` trailer. Used from the server's event loop only: no locks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from asr_service.errors import OverloadedError

__all__ = ["ClientQuotas", "QuotaExceeded"]


class QuotaExceeded(OverloadedError):
    """A client's own quota, not the server's, refused the clip."""

    def __init__(self, message: str, retry_after_ms: int) -> None:
        super().__init__(message, retry_after_ms)


@dataclass
class _Client:
    in_flight: int = 0
    tokens: float = 0.0
    refilled: float = field(default_factory=time.monotonic)


class ClientQuotas:
    """The in-flight count and clip rate of each client."""

    def __init__(self, max_concurrent: int, max_clips_per_s: float, *, retry_hint_ms: Callable[[], int],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_concurrent = max_concurrent
        self.max_clips_per_s = max_clips_per_s
        self._retry_hint_ms = retry_hint_ms  # how long a clip takes now: when a slot frees up
        self._clock = clock
        self._clients: dict[str, _Client] = {}

    @contextmanager
    def admit(self, client: str) -> Iterator[None]:
        """Hold one of `client`'s slots for a clip, or raise QuotaExceeded."""
        state = self._clients.get(client)
        if state is None:
            state = self._clients[client] = _Client(tokens=self.max_clips_per_s, refilled=self._clock())
        if state.in_flight >= self.max_concurrent:
            wait = self._retry_hint_ms()
            raise QuotaExceeded(f"client {client}: {state.in_flight} clips in flight, the most one client may "
                                f"have (client_max_concurrent); retry in about {wait} ms", wait)
        if self.max_clips_per_s > 0:
            now = self._clock()
            state.tokens = min(self.max_clips_per_s, state.tokens + (now - state.refilled) * self.max_clips_per_s)
            state.refilled = now
            if state.tokens < 1.0:
                wait = max(1, round((1.0 - state.tokens) / self.max_clips_per_s * 1000))
                raise QuotaExceeded(f"client {client}: more than {self.max_clips_per_s:g} clips a second "
                                    f"(client_max_clips_per_s); retry in about {wait} ms", wait)
            state.tokens -= 1.0
        state.in_flight += 1
        try:
            yield
        finally:
            state.in_flight -= 1
            if state.in_flight == 0 and self.max_clips_per_s <= 0:
                del self._clients[client]  # idle clients cost nothing
