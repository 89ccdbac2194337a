"""fastmlp.reference: the pure NumPy twin (NumPy's own BLAS; threads set by OPENBLAS_NUM_THREADS etc.,
which the driver puts in the worker's environment)."""
from __future__ import annotations

import numpy as np

from .. import cases as C
from . import Work
from .network_api import network_work

NAME = "numpy_ref"


def _numpy_blas():
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - old NumPy without CONFIG
        return "unknown"


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
        return [d.get("num_threads") for d in threadpool_info() if d.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001 - threadpoolctl is optional
        return None


def describe():
    return {"version": np.__version__, "blas": _numpy_blas(), "threads": _blas_threads()}



def setup(case, threads, data_dir=None):
    from fastmlp import reference
    p = case.params
    if case.kind == "gemm":
        X = C.gemm_data(p["m"], p["k"])
        W = C.gemm_data(p["n"], p["k"], seed=C.SEED + 1)
        b = np.zeros(p["n"], np.float32)
        return Work(lambda: X @ W.T + b)          # same work as the fastmlp forward: GEMM + bias
    work = network_work(reference.Network, case, data_dir, Work)
    if work is not None:
        return work
    raise ValueError(f"numpy_ref cannot run case kind {case.kind!r}")
