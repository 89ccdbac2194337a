#!/usr/bin/env python3
"""The machine-state probe: GFLOP/s of a small two-thread SGEMM (32×784 · 784×64 through fastmlp, which splits it
between the two threads), timed for about 0.2 s in this fresh process, printed as one number.

A product this small is mostly the two threads' fork and join, so it shows at once when the host runs the two
CPUs in a worse arrangement (see benchmarks/README.md, "Two machine states"): on the EPYC VM the suite was
written on, with OpenBLAS's own threads handing each other packed panels, it read ~106 in one state and ~60 in
the other, while one thread read 99 in both; on a Xeon VM with fastmlp's split it reads ~140 (now and
then ~210 in one process). run.py's
``--wait-fast`` runs it before every worker.

    python benchmarks/probe.py [--threads N]
"""
from __future__ import annotations

import argparse
import time


def probe(threads=2, seconds=0.2):
    import numpy as np

    import fastmlp
    from fastmlp import _core
    fastmlp.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.random((32, 784), dtype=np.float32)
    W = rng.random((64, 784), dtype=np.float32)
    b = np.zeros(64, np.float32)
    for _ in range(50):  # wakes the threads and the caches
        _core.dense_forward(X, W, b, "identity")
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        _core.dense_forward(X, W, b, "identity")
        times.append(time.perf_counter() - t)
    times.sort()
    return 2 * 32 * 64 * 784 / times[len(times) // 2] / 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    print(f"{probe(ap.parse_args().threads):.1f}")


if __name__ == "__main__":
    main()
