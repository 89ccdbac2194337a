"""Data-parallel scaling on this machine: samples/s of one SGD epoch of a 784-H-10 sigmoid/softmax MLP with
the same global batch on 1 and 2 MPI ranks (fastmlp.distributed), next to one process with 2 threads.

    python benchmarks/mpi_scaling.py [--hidden 1024] [--global-batch 256] [--samples 16384] [--json PATH] [--quick]

Each configuration runs in its own `mpiexec` job (warm-up epoch, then the median of --epochs timed epochs,
measured on rank 0 between barriers). It also reports the communication volume per step (the flat gradient:
n_parameters × 4 bytes in float32) and the measured time of one in-place Allreduce of that buffer, which is
what grows with the number of ranks on a cluster while the per-rank compute shrinks. Needs mpi4py and an
mpiexec (pip install "fastmlp[mpi]").
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time

WORKER = r"""
import json, statistics, sys, time
import numpy as np
from mpi4py import MPI
import fastmlp
from fastmlp import distributed
hidden, global_batch, n, epochs, threads = (int(a) for a in sys.argv[1:6])
comm = MPI.COMM_WORLD
fastmlp.set_num_threads(threads)
rng = np.random.default_rng(0)
X = rng.uniform(size=(n, 784)).astype(np.float32)
y = rng.integers(0, 10, n).astype(np.int32)
b = global_batch // comm.size
Xs, ys = distributed.shard(X, y, comm, b) if comm.size > 1 else (X, y)
net = fastmlp.Network([784, hidden, 10], seed=0)
def epoch():
    if comm.size > 1:
        return distributed.train_epoch(net, Xs, ys, b, comm, optimizer="sgd", learning_rate=0.01)
    return net.train_epoch(Xs, ys, b, optimizer="sgd", learning_rate=0.01)
epoch()
times = []
for _ in range(epochs):
    comm.Barrier()
    t = time.perf_counter()
    epoch()
    comm.Barrier()
    times.append(time.perf_counter() - t)
grad = np.ones(net.n_parameters, np.float32)
comm.Barrier()
reps, t = 20, time.perf_counter()
for _ in range(reps):
    comm.Allreduce(MPI.IN_PLACE, grad, op=MPI.SUM)
allreduce = (time.perf_counter() - t) / reps
if comm.rank == 0:
    seconds = statistics.median(times)
    print(json.dumps({"ranks": comm.size, "threads_per_rank": threads, "seconds_per_epoch": seconds,
                      "samples_per_second": n / seconds, "n_parameters": net.n_parameters,
                      "bytes_per_step": net.n_parameters * 4, "steps_per_epoch": -(-n // global_batch),
                      "allreduce_seconds": allreduce if comm.size > 1 else 0.0}))
"""


def run(ranks, threads, args):
    cmd = [args.mpiexec, "-n", str(ranks), sys.executable, "-c", WORKER, str(args.hidden),
           str(args.global_batch), str(args.samples), str(args.epochs), str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--global-batch", type=int, default=256)
    parser.add_argument("--samples", type=int, default=16384)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--quick", action="store_true", help="small network and data (smoke run)")
    parser.add_argument("--mpiexec", default=shutil.which("mpiexec"))
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.samples, args.epochs = 64, 2048, 1
    if not args.mpiexec:
        parser.error("no mpiexec found: pip install 'fastmlp[mpi]'")
    started = time.time()
    rows = [run(1, 2, args), run(1, 1, args), run(2, 1, args)]
    base = rows[0]["samples_per_second"]
    print(f"784-{args.hidden}-10 SGD epoch, global batch {args.global_batch}, {args.samples} samples; "
          f"gradient per step {rows[0]['bytes_per_step']:,} bytes")
    print(f"{'ranks':>5} {'threads/rank':>12} {'samples/s':>12} {'vs 1x2':>7} {'allreduce ms':>13}")
    for r in rows:
        print(f"{r['ranks']:>5} {r['threads_per_rank']:>12} {r['samples_per_second']:>12,.0f} "
              f"{r['samples_per_second'] / base:>7.2f} {1e3 * r['allreduce_seconds']:>13.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows, "seconds": time.time() - started}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
