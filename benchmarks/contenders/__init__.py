"""One module per contender. Each exposes

* ``NAME``, ``LABEL`` and ``IMPORT_NAME`` (the package whose presence makes it available);
* ``describe() -> dict``: version and BLAS of the library (called inside the worker only);
* ``setup(case, threads, data_dir) -> Work``: builds the data and the model of one case, outside timing.

A ``Work`` has ``run()`` (one unit of work: one epoch, one gradient, one GEMM) or, for per-call overhead
cases, ``run(n_steps)``; optionally ``warmup()`` (a cheaper warm-up than ``run()``) and ``info()``
(extra numbers for the report, e.g. the native workspace bytes).

The driver never imports these libraries itself: only ``importlib.util.find_spec`` tells it whether a
contender is installed, and each worker process imports exactly one of them.
"""
from __future__ import annotations

import importlib
import importlib.util

ORDER = ("fastmlp", "numpy_ref", "torch", "sklearn")
MODULES = {
    "fastmlp": "fastmlp_native",
    "numpy_ref": "numpy_reference",
    "torch": "torch_eager",
    "sklearn": "sklearn_mlp",
}
LABELS = {
    "fastmlp": "fastmlp",
    "numpy_ref": "NumPy reference",
    "torch": "PyTorch (CPU, eager)",
    "sklearn": "scikit-learn MLPClassifier",
}
IMPORT_NAMES = {"fastmlp": "fastmlp", "numpy_ref": "fastmlp", "torch": "torch", "sklearn": "sklearn"}


class Work:
    """What ``setup`` returns: ``run`` and, when given, a cheaper ``warmup``. ``net`` is the model, for
    contenders whose ``info()`` reports on it (fastmlp: its native workspace); the others ignore it."""

    def __init__(self, run, warmup=None, net=None):
        self.run = run
        if warmup is not None:
            self.warmup = warmup
        self._net = net


def load(name):
    return importlib.import_module(f"{__name__}.{MODULES[name]}")


def installed(name):
    """(available, reason): whether the contender's library can be imported, without importing it."""
    try:
        spec = importlib.util.find_spec(IMPORT_NAMES[name])
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return False, f"{IMPORT_NAMES[name]} is not installed"
    return True, ""
