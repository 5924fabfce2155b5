"""CPU load over a window (the server process's and the host's) and the process's resident memory.

The server's load is its own CPU time (`os.times`) as a share of the cores it may use (its CPU
affinity, capped by a cgroup v2 `cpu.max` quota when one is set, as in a container with a CPU limit):
another program busy on the host does not raise it. The host's share comes from /proc/stat; without
/proc it and the memory read 0, rather than failing the server.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable

from asr_service.cores import usable_cpu

__all__ = ["CpuLoad", "read_proc_stat", "read_process_cpu", "resident_memory_bytes"]

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


def read_process_cpu(cores: float | None = None) -> tuple[float, float]:
    """(CPU seconds this process used, wall seconds x usable cores): `CpuLoad` turns two readings into a share."""
    times = os.times()
    return times.user + times.system, time.monotonic() * (cores if cores is not None else usable_cpu())


def resident_memory_bytes() -> float:
    """Resident set size of this process; 0 without /proc."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return float(f.read().split()[1]) * _PAGE_BYTES
    except OSError:
        return 0.0


class CpuLoad:
    """A CPU busy share (0-1) over the last `window_s`, from (busy, total) counters read by `sample()`.

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

    @property
    def ready(self) -> bool:
        """True once two readings span some time (before that `value()` is 0 and means nothing)."""
        return len(self._samples) >= 2 and self._samples[-1][2] > self._samples[0][2]

    def value(self) -> float:
        """Busy share over the window (0 before two readings)."""
        if len(self._samples) < 2:
            return 0.0
        _, busy0, total0 = self._samples[0]
        _, busy1, total1 = self._samples[-1]
        if total1 <= total0:
            return 0.0
        return min(1.0, max(0.0, (busy1 - busy0) / (total1 - total0)))
