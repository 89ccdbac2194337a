"""The machine's state while the suite runs (benchmarks/run.py): whether other processes keep the CPUs busy, and
``--wait-fast``'s probe of the VM's fast and slow states (benchmarks/README.md, "Two machine states")."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "probe.py"
FAST_STATE = 0.85  # a state probe within 15% of the run's reference probe: the machine's fast state
FAST_QUANTILE = 0.9  # the reference: this quantile of the run's probes (the best one is often a lone outlier)


def thread_env(threads):
    """This environment with every BLAS and OpenMP thread count set to ``threads`` (a worker's or the probe's)."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def reference_probe(probes):
    """FAST_QUANTILE of the probes so far (None without any): the fast state's level. Not the best probe: on the
    Xeon VM the probe reads 137–146 GFLOP/s from one fresh process to the next, with a lone 213 now and then,
    which made most rounds look slow."""
    values = sorted(p for p in probes if p is not None)
    return values[int(FAST_QUANTILE * (len(values) - 1))] if values else None


def machine_busy_fraction(interval=0.5):
    """Share of all CPUs busy over ``interval`` seconds (from /proc/stat), or None off Linux."""
    from benchmarks.worker import _machine_busy
    a = _machine_busy()
    time.sleep(interval)
    b = _machine_busy()
    if not a or not b or b[1] <= a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1])


def wait_until_quiet(max_wait, threshold=0.15):
    """Before starting a worker, wait up to ``max_wait`` seconds for the machine to be idle (busy share of
    the CPUs below ``threshold``); returns the seconds waited. Other people's jobs on a shared 2-core
    machine otherwise wreck 2-thread timings (a descheduled thread stalls every barrier)."""
    if max_wait <= 0:
        return 0.0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait:
        busy = machine_busy_fraction()
        if busy is None or busy < threshold:
            break
    return time.perf_counter() - t0


def state_probe(threads):
    """GFLOP/s of benchmarks/probe.py in a fresh process (None if it failed)."""
    try:
        proc = subprocess.run([sys.executable, str(PROBE), "--threads", str(threads)], capture_output=True,
                              text=True, timeout=120, env=thread_env(threads), cwd=str(ROOT))
        return float(proc.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return None


class MachineState:
    """``--wait-fast``: before each worker, probe the machine's state (benchmarks/probe.py) and, while the probe
    reads below FAST_STATE of the reference probe so far, wait and probe again, up to ``max_wait`` seconds. On the
    2-vCPU VM of benchmarks/README.md ("Two machine states") the host alternates between a state in which two
    threads run a small GEMM at ~106 GFLOP/s and one at ~60, for seconds to minutes at a time."""

    def __init__(self, max_wait, threads):
        self.max_wait, self.threads, self.probes = max_wait, threads, []

    @property
    def reference(self):
        return reference_probe(self.probes)

    def wait(self):
        """The last probe's GFLOP/s (None without --wait-fast) and the seconds waited."""
        if self.max_wait <= 0:
            return None, 0.0
        t0 = time.perf_counter()
        while True:
            value = state_probe(self.threads)
            if value is not None:
                self.probes.append(value)
            fast = value is None or value >= FAST_STATE * self.reference
            if fast or time.perf_counter() - t0 >= self.max_wait:
                return value, time.perf_counter() - t0
            time.sleep(2.0)
