"""One module per contender. Each exposes

* ``NAME``, ``LABEL`` and ``IMPORT_NAME`` (the package whose presence makes it available);
* ``describe() -> dict``: version and BLAS of the library (called inside the worker only);
* ``setup(case, threads, data_dir) -> Work``: builds the data and the model of one case, outside timing.

A ``Work`` has ``run()`` (one unit of work: one epoch, one gradient, one GEMM) or, for per-call overhead
cases, ``run(n_steps)``; optionally ``warmup()`` (a cheaper warm-up than ``run()``) and ``info()``
(extra numbers for the report, e.g. the native workspace bytes).

The driver never imports these libraries itself: only ``importlib.util.find_spec`` tells it whether a
contender is installed, and each worker process imports exactly one of them.

``fastmlp_other`` is a second build of fastmlp (``run.py --other-build DIR``, DIR made by e.g.
``pip install --target DIR -Ccmake.define.FASTMLP_BLAS=mkl .``): the same contender module, imported from DIR
(first on the worker's PYTHONPATH), so that two builds are timed side by side in one run.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path

ORDER = ("fastmlp", "fastmlp_other", "numpy_ref", "torch", "sklearn")
MODULES = {
    "fastmlp": "fastmlp_native",
    "fastmlp_other": "fastmlp_native",
    "numpy_ref": "numpy_reference",
    "torch": "torch_eager",
    "sklearn": "sklearn_mlp",
}
LABELS = {
    "fastmlp": "fastmlp",
    "fastmlp_other": "fastmlp, other build",
    "numpy_ref": "NumPy reference",
    "torch": "PyTorch (CPU, eager)",
    "sklearn": "scikit-learn MLPClassifier",
}
IMPORT_NAMES = {"fastmlp": "fastmlp", "fastmlp_other": "fastmlp", "numpy_ref": "fastmlp", "torch": "torch",
                "sklearn": "sklearn"}


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


def installed(name, other_build=None):
    """(available, reason): whether the contender's library can be imported, without importing it."""
    if name == "fastmlp_other":
        if not other_build:
            return False, "not selected (--other-build DIR)"
        if not (Path(other_build) / "fastmlp" / "__init__.py").is_file():
            return False, f"no fastmlp package in {other_build}"
        return True, ""
    try:
        spec = importlib.util.find_spec(IMPORT_NAMES[name])
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return False, f"{IMPORT_NAMES[name]} is not installed"
    return True, ""


def worker_env(name, env, other_build=None):
    """The worker's environment for contender ``name``: the other build comes first on its PYTHONPATH."""
    if name == "fastmlp_other" and other_build:
        env = dict(env, PYTHONPATH=os.pathsep.join(
            p for p in (str(Path(other_build).resolve()), env.get("PYTHONPATH")) if p))
    return env


def check_origin(name, result, other_build=None):
    """The other build's result, turned into an error when the worker imported fastmlp from elsewhere (an
    editable install of the default build, say, whose import hook comes before PYTHONPATH)."""
    if name != "fastmlp_other" or not other_build or not result.get("ok"):
        return result
    path = result.get("library", {}).get("path", "")
    root = str(Path(other_build).resolve())
    if not path or os.path.commonpath([root, str(Path(path).resolve())]) != root:
        return {"ok": False, "error": f"the worker imported fastmlp from {path or '?'}, not from {root}"}
    return result
