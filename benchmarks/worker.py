#!/usr/bin/env python3
"""Run one case for one contender in this fresh process and print its timings as one JSON line.

    python benchmarks/worker.py CONTENDER CASE --threads N [--quick] [--reps K] [--warmup W] [--data DIR]

The driver (run.py) starts one such process per (case, contender, round), so that no library's idle
threads (OpenBLAS, OpenMP, MKL spin-waiting) and no allocator state carry over from one contender to the
next. Inside: import the library, build the data and the model (untimed), ``warmup`` untimed runs, then
``reps`` timed runs (fewer once they exceed the case's time budget); the median is what counts.
Per-call overhead cases (XOR) first calibrate how many steps make one timed run last
``min_rep_seconds`` and report the time of one step.

The printed JSON object has: contender, case, ok, seconds (median time of one unit of work: one epoch,
one gradient, one GEMM, one XOR step), times (every timed run, per unit), steps_per_rep (XOR only),
setup_seconds, cpu_utilisation (process CPU time / wall time during the timed runs: ≈ threads when
every thread computes or spins), foreign_cpu (fraction of the machine's CPUs busy with *other* processes
during the timed runs, from /proc/stat: > 0.1 means the numbers are disturbed), peak_rss_mib
(ru_maxrss of this process), base_rss_mib (ru_maxrss right after the imports), library (version, BLAS,
threads) and any contender-specific info (fastmlp: workspace_bytes). On failure: ok=false and error.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout root, for `benchmarks.*`

from benchmarks import cases as C  # noqa: E402
from benchmarks import contenders  # noqa: E402


def _maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0   # KiB on Linux


def _proc_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _machine_busy():
    """(busy seconds, total seconds) summed over all CPUs since boot, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / tick, total / tick


def _time_calls(fn, reps, *args, budget=None):
    """Time ``reps`` calls of fn(*args); with ``budget`` (seconds) stop early once the calls so far took
    longer than that (at least one call is always timed), so a slow contender or a loaded machine cannot
    stretch a run without bound."""
    times = []
    start = time.perf_counter()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
        if budget is not None and time.perf_counter() - start > budget:
            break
    return times


def run_case(contender, case, threads, data_dir, reps, warmup, budget=None):
    module = contenders.load(contender)
    out = {"library": module.describe() if contender != "sklearn" else {}}
    base_rss = _maxrss_mib()
    t0 = time.perf_counter()
    work = module.setup(case, threads, data_dir)
    out["setup_seconds"] = time.perf_counter() - t0
    per_call = case.kind == "xor_steps"
    steps = 1
    if per_call:
        work.run(10)                                           # first calls: lazy initialisation
        min_rep = case.params["min_rep_seconds"]
        while True:                                            # calibrate steps per timed run
            t = _time_calls(work.run, 1, steps)[0]
            if t >= min_rep / 4 or steps >= 1 << 24:
                break
            steps *= 4
        steps = max(1, int(steps * min_rep / max(t, 1e-9)))
        for _ in range(warmup):
            work.run(steps)
    else:
        warm = getattr(work, "warmup", None) or work.run
        for _ in range(warmup):
            warm()
    busy0, cpu0 = _machine_busy(), _proc_cpu()
    w0 = time.perf_counter()
    times = _time_calls(work.run, reps, *((steps,) if per_call else ()), budget=budget)
    wall = time.perf_counter() - w0
    busy1, cpu1 = _machine_busy(), _proc_cpu()
    own_cpu = cpu1 - cpu0
    times = [t / steps for t in times]
    out.update(seconds=statistics.median(times), times=times, reps=len(times), warmup=warmup,
               cpu_utilisation=own_cpu / wall if wall > 0 else None)
    if per_call:
        out["steps_per_rep"] = steps
    if busy0 and busy1:
        n_cpu = os.cpu_count() or 1
        foreign = (busy1[0] - busy0[0]) - own_cpu
        out["foreign_cpu"] = max(0.0, foreign / (wall * n_cpu)) if wall > 0 else None
    if contender == "sklearn":   # threadpoolctl sees the BLAS only once sklearn has loaded NumPy's
        out["library"] = module.describe()
    info = getattr(work, "info", None)
    if info is not None:
        out.update(info())
    out["base_rss_mib"] = base_rss
    out["peak_rss_mib"] = _maxrss_mib()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("contender", choices=contenders.ORDER)
    ap.add_argument("case")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="take the case from the quick suite")
    ap.add_argument("--reps", type=int, default=None, help="timed runs (default: the case's)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed runs first (default: the case's)")
    ap.add_argument("--budget", type=float, default=None,
                    help="stop the timed runs early once they took this many seconds (default: the case's)")
    ap.add_argument("--data", default=str(C.DEFAULT_DATA_DIR), help="MNIST directory")
    args = ap.parse_args(argv)
    case = C.case_by_name(args.case, args.quick)
    result = {"contender": args.contender, "case": case.name, "threads": args.threads}
    try:
        result.update(run_case(args.contender, case, args.threads, args.data,
                               args.reps if args.reps is not None else case.reps,
                               args.warmup if args.warmup is not None else case.warmup,
                               args.budget if args.budget is not None else case.budget))
        result["ok"] = True
    except Exception as exc:  # noqa: BLE001 - reported to the driver, which carries on
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
