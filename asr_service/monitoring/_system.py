"""Host CPU load over a window and the process's resident memory, read from /proc (Linux).

Elsewhere (no /proc) both read 0: the load alarm then never fires, rather than failing the server.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable

__all__ = ["CpuLoad", "read_proc_stat", "resident_memory_bytes"]

_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def read_proc_stat() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole host since boot; (0, 0) without /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return 0.0, 0.0
    values = [float(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + (values[4] if len(values) > 4 else 0.0)
    total = sum(values)
    return total - idle, total


def resident_memory_bytes() -> float:
    """Resident set size of this process; 0 without /proc."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return float(f.read().split()[1]) * _PAGE_BYTES
    except OSError:
        return 0.0


class CpuLoad:
    """The host's CPU busy share (0-1) over the last `window_s`, from samples taken by `sample()`.

    `sample()` runs on the monitor's timer; `value()` is the share between the oldest sample
    still inside the window and the newest one.
    """

    def __init__(
        self,
        window_s: float,
        *,
        read: Callable[[], tuple[float, float]] = read_proc_stat,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._read = read
        self._clock = clock
        self._samples: deque[tuple[float, float, float]] = deque()  # (time, busy, total)

    def sample(self) -> None:
        """Take one reading and forget readings older than the window."""
        now = self._clock()
        busy, total = self._read()
        self._samples.append((now, busy, total))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()

    def value(self) -> float:
        """Busy share over the window (0 before two readings)."""
        if len(self._samples) < 2:
            return 0.0
        _, busy0, total0 = self._samples[0]
        _, busy1, total1 = self._samples[-1]
        if total1 <= total0:
            return 0.0
        return min(1.0, max(0.0, (busy1 - busy0) / (total1 - total0)))
