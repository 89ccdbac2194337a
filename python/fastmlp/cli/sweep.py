"""``fastmlp sweep``: a grid of feature-study settings run in parallel processes, one table of results.

Under ``mpiexec -n N`` the runs are dealt out to the N ranks (``--jobs`` at a time per rank, default 1),
possibly on several machines, and rank 0 writes the table.

Each run is the features part of ``fastmlp study`` (no figures) on one thread, in a process of its own
(see :mod:`fastmlp.study.sweep`); a run that fails or whose process dies is a "failed: ..." row and the
others complete. Writes sweep.csv, sweep.md and sweep.json into --out; exit code 1 if any run failed.
"""
from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time

from .common import _check_data_args, _mpi_world, _reporter
from .parser import PROG


def _list_of(parse, what):
    """An argparse type: comma-separated values, each checked by ``parse``."""
    def parse_list(text):
        parts = [p.strip() for p in text.split(",")]
        if not parts or any(not p for p in parts):
            raise argparse.ArgumentTypeError(f"expected {what} separated by commas, got {text!r}")
        values = [parse(p) for p in parts]
        return list(dict.fromkeys(values))  # drop repeats, keep order
    return parse_list


def _cmd_sweep(args, argv):
    from ..study import QUICK, StudyConfig
    from ..study.data import resolve_source
    from ..study.sweep import grid_configs, run_sweep, run_sweep_mpi, write_tables

    _check_data_args(args)
    comm = _mpi_world()  # under mpiexec with several ranks: the runs are dealt out to the ranks
    rank0 = comm is None or comm.Get_rank() == 0
    jobs = args.jobs or (2 if comm is None else 1)
    reporter = _reporter(args)
    # find (or download) the data once, so that the runs neither search nor download in parallel
    located = description = None
    if rank0:
        source, _ = resolve_source(args.dataset, data_dir=args.data_dir, sample=args.sample,
                                   download=not args.no_download, timeout=args.download_timeout, reporter=reporter)
        located = ({"sample": True, "data_dir": None} if source.is_sample else
                   {"sample": False, "data_dir": None if source.directory is None else str(source.directory)})
        description = source.description
    if comm is not None:
        located, description = comm.bcast((located, description), root=0)
    epochs = args.epochs or [QUICK["epochs"] if args.quick else StudyConfig.epochs]
    base = StudyConfig(dataset=args.dataset, download=False, download_timeout=args.download_timeout,
                       ae_epochs=QUICK["ae_epochs"] if args.quick and not args.epochs else None,
                       batch_size=args.batch_size, threads=1, quick=args.quick, **located)
    configs = grid_configs(base, hidden=args.hidden, sparsity_weight=args.sparsity_weight,
                           sparsity_target=args.sparsity_target, epochs=epochs, seed=args.seed)
    if rank0:
        reporter.message(f"Sweep: {len(configs)} runs of the feature study ({description}), {jobs} at a time"
                         + ("" if comm is None else f" on each of {comm.Get_size()} MPI ranks") + ", one thread each.")
    started = time.perf_counter()

    def done(row):
        reporter.message(f"  run {row['run']:03d} ({row['seconds']:.1f} s): {row['status']}")

    if comm is None:
        rows = run_sweep(configs, jobs=jobs, on_done=done)
    else:
        rows = run_sweep_mpi(configs, comm, jobs=jobs, on_done=done)
        if rows is None:  # not rank 0: rank 0 writes the table
            return 0
    elapsed = time.perf_counter() - started
    meta = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": shlex.join([PROG, *argv]), "jobs": jobs, "mpi_ranks": 1 if comm is None else comm.Get_size(),
            "data": description, "total_seconds": round(elapsed, 3)}
    paths = write_tables(rows, args.out, meta)
    failed = [r for r in rows if r["status"] != "ok"]
    print((paths[1]).read_text(encoding="utf-8").rstrip())
    print(f"Wrote {', '.join(str(p) for p in paths)} in {elapsed:.1f} s"
          + (f"; {len(failed)} of {len(rows)} runs failed." if failed else "."))
    if failed:
        print(f"{PROG} sweep: {len(failed)} of {len(rows)} runs failed (see the status column)", file=sys.stderr)
    return 1 if failed else 0
