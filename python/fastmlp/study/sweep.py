"""A sweep: a grid of feature-study settings, each run as an independent process.

Each run is the features part of the study (:func:`~fastmlp.study.experiments.run_features_part`, no
figures) with one thread, in a fresh single-use ``ProcessPoolExecutor`` (``spawn`` context) of its own, so
a run that raises or whose process dies loses only its own row. At most ``jobs`` runs are alive at a time.
Under ``mpiexec`` the runs are dealt out to the MPI ranks (run i to rank i mod N), each rank running its
share the same way (each run still in a process of its own), and rank 0 gathers the rows
(:func:`run_sweep_mpi`).

Testing aid: with the environment variable ``FASTMLP_SWEEP_CRASH_RUN=<index>`` the worker of run
``<index>`` (0-based) kills its own process with ``os._exit(3)`` before training, to exercise the
isolation of crashed runs.
"""
from __future__ import annotations

import csv
import itertools
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from .comparison import MODEL_LABELS
from .config import StudyConfig

__all__ = ["CRASH_ENV", "GRID_KEYS", "COLUMNS", "grid_configs", "run_one", "run_sweep", "run_sweep_mpi", "write_tables"]

CRASH_ENV = "FASTMLP_SWEEP_CRASH_RUN"
#: the StudyConfig fields a sweep varies (the grid axes), in table order
GRID_KEYS = ("hidden", "sparsity_weight", "sparsity_target", "epochs", "seed")
#: the columns of sweep.csv / sweep.md: the run, its settings, the final test accuracy of each classifier
COLUMNS = ("run", *GRID_KEYS, "ae_epochs", *MODEL_LABELS, "seconds", "status")


def grid_configs(base: StudyConfig, **axes) -> list[StudyConfig]:
    """One StudyConfig per point of the Cartesian product of ``axes`` (keys in GRID_KEYS, values lists)."""
    keys = [k for k in GRID_KEYS if k in axes]
    return [replace(base, **dict(zip(keys, values))) for values in itertools.product(*(axes[k] for k in keys))]


def run_one(index: int, config: StudyConfig) -> dict:
    """The worker: the features part of the study with ``config`` on one thread; returns the accuracies."""
    if os.environ.get(CRASH_ENV, "").strip() == str(index):  # testing aid, see the module docstring
        os._exit(3)
    import fastmlp

    from .data import load_study_data
    from .experiments import run_features_part
    from .progress import Reporter

    fastmlp.set_num_threads(1)
    reporter = Reporter(quiet=True)
    data = load_study_data(config, reporter)
    numbers, _ = run_features_part(data, config, reporter)
    return {name: float(numbers[name]["final_test_accuracy"]) for name in MODEL_LABELS}


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, BrokenProcessPool):
        return "the worker process died (killed or crashed) before returning a result"
    text = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _isolated(index: int, config: StudyConfig) -> dict:
    """Run ``run_one`` in a process of its own (a single-use spawn executor); never raises."""
    import multiprocessing

    row = {"run": index, **{k: getattr(config, k) for k in GRID_KEYS}, "ae_epochs": config.autoencoder_epochs}
    started = time.perf_counter()
    try:
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            row.update(pool.submit(run_one, index, config).result())
        row["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a failed run is a row, not an error of the sweep
        row.update({name: None for name in MODEL_LABELS})
        row["status"] = f"failed: {_one_line(exc)}"
    row["seconds"] = round(time.perf_counter() - started, 3)
    row["settings"] = config.as_dict()
    return row


def run_sweep(configs: list[StudyConfig], jobs: int = 2, on_done=None, indices=None) -> list[dict]:
    """Run every config (at most ``jobs`` at a time, each in its own process); rows in the order of
    ``configs``. ``on_done(row)`` is called as each run finishes. ``indices`` are the runs' numbers
    (default 0, 1, ...)."""
    indices = range(len(configs)) if indices is None else list(indices)
    rows = [None] * len(configs)
    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as threads:
        futures = {threads.submit(_isolated, i, c): k for k, (i, c) in enumerate(zip(indices, configs))}
        for future in as_completed(futures):
            row = future.result()
            rows[futures[future]] = row
            if on_done is not None:
                on_done(row)
    return rows


def run_sweep_mpi(configs: list[StudyConfig], comm, jobs: int = 1, on_done=None) -> list[dict] | None:
    """:func:`run_sweep` spread over the ranks of ``comm``: rank r runs configs r, r+N, r+2N, ... (``jobs``
    at a time, each in a process of its own); rank 0 returns all rows in the order of ``configs``, the
    other ranks None. A run that fails or whose process dies is a failed row of its rank's share; only
    the death of a rank process itself ends the MPI job (mpiexec then stops every rank)."""
    rank, size = comm.Get_rank(), comm.Get_size()
    mine = list(range(rank, len(configs), size))
    shares = comm.gather(run_sweep([configs[i] for i in mine], jobs, on_done, indices=mine), root=0)
    if rank != 0:
        return None
    return sorted((row for share in shares for row in share), key=lambda row: row["run"])


def _cell(value, column):
    if value is None:
        return ""
    if column in MODEL_LABELS:
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def write_tables(rows: list[dict], out_dir, meta: dict | None = None) -> list[Path]:
    """Write sweep.csv, sweep.md and sweep.json into ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sweep.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_cell(row.get(c), c) for c in COLUMNS])
    header = [c if c not in MODEL_LABELS else f"{c} (test acc.)" for c in COLUMNS]
    lines = ["# fastmlp sweep", "",
             "Final test accuracy of the four classifiers of the feature study, one row per setting.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c), c).replace("|", "\\|") for c in COLUMNS) + " |")
    failed = sum(1 for r in rows if r["status"] != "ok")
    lines += ["", f"{len(rows) - failed} of {len(rows)} runs succeeded."]
    (out / "sweep.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    document = {"format": "fastmlp-sweep", "format_version": 1, **(meta or {}), "columns": list(COLUMNS),
                "runs": rows}
    (out / "sweep.json").write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
    return [out / "sweep.csv", out / "sweep.md", out / "sweep.json"]
