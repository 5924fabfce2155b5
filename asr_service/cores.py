"""How many cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota.

`os.cpu_count()` is the machine's count: in a container limited to 2 CPUs on a 64-core node it says 64,
and an engine sized from it would start 64 workers on 2 cores. Everything that sizes threads or workers,
and the server's own CPU share (`asr_server_load_ratio`), asks here instead.
"""

from __future__ import annotations

import math
import os

__all__ = ["usable_cores", "usable_cpu"]

CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"


def usable_cpu(cgroup_cpu_max: str = CGROUP_CPU_MAX) -> float:
    """Cores as a number that may be fractional (a quota of 1.5 CPUs is 1.5): affinity, capped by the quota."""
    cores = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    try:
        with open(cgroup_cpu_max, encoding="ascii") as f:
            quota, period = f.read().split()[:2]
        if quota != "max" and float(period) > 0:
            cores = min(cores, float(quota) / float(period))
    except (OSError, ValueError):
        pass
    return max(cores, 0.01)


def usable_cores(cgroup_cpu_max: str = CGROUP_CPU_MAX) -> int:
    """Whole cores, for thread and worker counts: a fractional quota rounds up (1.5 CPUs: 2 threads)."""
    return max(1, math.ceil(usable_cpu(cgroup_cpu_max) - 1e-9))
