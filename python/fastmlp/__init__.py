"""fastmlp: fully-connected networks (softmax regression, MLPs, sparse autoencoders) on a C++ core.

The compiled ``_core`` stays private; this package is its public face.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version as _version

import numpy as np


def _load_core():
    """Imports the native core. Its vendored OpenBLAS runs single-threaded (fastmlp splits each product across its
    OpenMP pool), so the server thread OpenBLAS starts as it loads never gets work, yet it spins for its thread
    timeout before it sleeps: about 0.1 s of a core right after import (measured on 2 cores), taken from the first
    training steps.
    OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, as it loads: it is set (to the shortest, 2^4 cycles) for that
    load only, unless the environment already chose one. NumPy's own OpenBLAS, loaded before, is untouched."""
    import os
    key = "OPENBLAS_THREAD_TIMEOUT"
    chosen = key in os.environ
    if not chosen:
        os.environ[key] = "4"
    try:
        from . import _core
    finally:
        if not chosen:
            del os.environ[key]
    return _core


_core = _load_core()
from . import reference  # noqa: E402  (the modules below import _core too: it is loaded by now)
from ._validation import _as_array, as_float_array, check_positive_int, check_real
from .network import Network
from . import approximation, parity  # cheap: numpy only; matplotlib is imported when a plot is drawn
from .estimators import (Autoencoder, DataConversionWarning, MLPClassifier, NotFittedError, SoftmaxRegression,
                         TrainingDivergedError, load)

try:
    __version__ = _version("fastmlp")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["Network", "reference", "kl_sparsity", "build_info", "set_num_threads", "get_num_threads",
           "__version__",
           # estimators (fastmlp.estimators)
           "SoftmaxRegression", "MLPClassifier", "Autoencoder", "load", "NotFittedError",
           "TrainingDivergedError", "DataConversionWarning"]


def kl_sparsity(H, target):
    """Σ_i KL(target ‖ α̂_i) for hidden activations H (n_samples, n_hidden), α̂_i = mean_t H[t, i] and
    KL(α‖α̂) = α log(α/α̂) + (1−α) log((1−α)/(1−α̂)) (natural log; α̂ clamped to [1e-6, 1−1e-6]).
    A 1-D H is one unit's activations over the samples."""
    H = _as_array(H, "H")
    if H.ndim == 1:
        H = H[:, None]
    H = as_float_array(H, np.float64, "H")
    target = check_real(target, "target", 0, 1, low_open=True)
    return float(_core.sparse_kl_penalty_forward(H, target, 1.0))


def build_info():
    """The BLAS in use, OpenMP yes/no, compiler, flags and thread count of the native core."""
    info = dict(_core.build_info())
    info["version"] = __version__
    return info


#: more threads than any machine fastmlp runs on has cores (OpenMP would create them all)
MAX_THREADS = 4096


def set_num_threads(n):
    """Set the BLAS and OpenMP thread counts together."""
    n = check_positive_int(n, "n")
    if n > MAX_THREADS:
        raise ValueError(f"n must be at most {MAX_THREADS} threads, got {n}")
    _core.set_num_threads(n)


def get_num_threads():
    """Threads the BLAS (and OpenMP loops) use."""
    return int(_core.get_num_threads())
