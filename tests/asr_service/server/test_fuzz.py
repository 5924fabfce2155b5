"""A short pass of the fuzz harness (bench/bench_fuzz.py: 10,000 inputs is the full run) against a live
server: no INTERNAL or UNKNOWN answer, every input answered, health SERVING throughout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "bench_fuzz.py"


def test_a_short_fuzz_pass_finds_nothing() -> None:
    done = subprocess.run([sys.executable, str(BENCH), "--inputs", "400", "--seed", "7"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "400 inputs in" in done.stdout and "failures: 0" in done.stdout
    assert "UNKNOWN" not in done.stdout and "INTERNAL" not in done.stdout
    assert "INVALID_ARGUMENT" in done.stdout  # the inputs did reach the server's checks
