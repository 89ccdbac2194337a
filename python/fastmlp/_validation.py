"""Input checks at the Python boundary: each array is converted at most once, here, and anything the core
cannot take raises TypeError/ValueError naming the argument and saying what was expected."""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core


def _native_scan(arr):
    """Whether the core can scan arr in place: float32/float64, C-contiguous, aligned (what it takes)."""
    return arr.dtype in (np.float32, np.float64) and arr.flags.c_contiguous and arr.flags.aligned


def all_finite(arr):
    """No NaN or ±inf in arr. For arrays the core takes, a native scan with the GIL released and no temporary;
    np.isfinite(arr).all() would first build a boolean array as large."""
    if _native_scan(arr):
        return _core.all_finite(arr.reshape(-1))
    return bool(np.isfinite(arr).all())


def all_in_unit_interval(arr):
    """Every value of arr in [0, 1] (NaN and ±inf are not). For arrays the core takes, one native pass with the
    GIL released, where arr.min() and arr.max() would make two."""
    if _native_scan(arr):
        return _core.all_in_unit_interval(arr.reshape(-1))
    return bool(((arr >= 0) & (arr <= 1)).all())


def _kind_check(arr, name):
    if arr.dtype.kind in "cOSUVMm":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")


def _as_array(X, name):
    try:
        return np.asarray(X)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None


def _converted(arr, dtype, name):
    """arr as an aligned C-contiguous array of dtype (a copy only when needed), all finite."""
    with np.errstate(over="ignore", invalid="ignore"):  # checked right below, with a clearer message
        out = np.require(arr, dtype=dtype, requirements=["C", "A"])
    if not all_finite(out):
        if arr.dtype.kind != "f" or all_finite(arr):  # finite before the cast: it overflowed
            raise ValueError(f"{name} holds values beyond the range of {np.dtype(dtype).name}")
        raise ValueError(f"{name} contains NaN or infinity")
    return out


def _ready(X, dtype, name, ndim, shape=None, check_finite=True):
    """True when X is already what the core takes: an aligned C-contiguous ndarray of ``dtype``, of ``shape``
    if given, else non-empty with ``ndim`` dimensions. Then only its finiteness is left to check, here (unless
    the caller's native call checks it itself: ``check_finite=False``)."""
    if not (type(X) is np.ndarray and X.dtype == dtype and (X.shape == shape if shape else X.ndim == ndim and X.size)
            and X.flags.c_contiguous and X.flags.aligned):
        return False
    if check_finite and not all_finite(X):
        raise ValueError(f"{name} contains NaN or infinity")
    return True


def as_float_array(X, dtype, name="X", ndim=2, check_finite=True):
    """X as a C-contiguous array of ``dtype`` (a copy only when X is not one already), finite and non-empty.
    ``check_finite=False`` leaves NaN/inf in an array taken as it is to the native call, which must then check
    them itself (the training epoch does, a mini-batch at a time); a converted copy is always checked here."""
    if _ready(X, dtype, name, ndim, check_finite=check_finite):
        return X
    arr = _as_array(X, name)
    _kind_check(arr, name)
    if arr.ndim != ndim:
        shape = "(n_samples, n_features)" if ndim == 2 else "(n,)"
        raise ValueError(f"{name} must be {ndim}-D {shape}, got an array of shape {arr.shape}")
    if arr.size == 0 or arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); need at least one sample")
    return _converted(arr, dtype, name)


def as_features(X, n_features, dtype, name="X", check_finite=True):
    arr = as_float_array(X, dtype, name, check_finite=check_finite)
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features per sample, expected {n_features}")
    return arr


def as_targets(Y, n_samples, n_outputs, labels_allowed, dtype, name="Y"):
    """Targets for n_samples: int32 class labels (only when labels_allowed, i.e. a softmax output) or a
    dense (n_samples, n_outputs) matrix of ``dtype``. A 1-D float vector is a single-output matrix."""
    if _ready(Y, dtype, name, 2, (n_samples, n_outputs)):
        return Y
    arr = _as_array(Y, name)
    _kind_check(arr, name)
    if arr.ndim == 1 and arr.dtype.kind in "iub" and labels_allowed:
        if arr.shape[0] != n_samples:
            raise ValueError(f"{name} has {arr.shape[0]} labels for {n_samples} samples")
        low, high = (arr.min(), arr.max()) if arr.size else (0, 0)
        if low < 0 or high >= n_outputs:  # named from the values just read: arr may be changing (another thread)
            raise ValueError(f"{name} holds label {low if low < 0 else high}, outside the {n_outputs} classes "
                             f"[0, {n_outputs})")
        return np.require(arr, dtype=np.int32, requirements=["C", "A"])
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        if arr.ndim == 1 and labels_allowed and arr.shape[0] == n_samples:  # the shape of labels, not their type
            raise ValueError(f"{name} looks like class labels but has dtype {arr.dtype}: labels must be integers "
                             f"in [0, {n_outputs}) (e.g. {name}.astype(int)), or give dense targets of shape "
                             f"({n_samples}, {n_outputs})")
        expected = f"({n_samples}, {n_outputs})" + (" or integer labels (n,)" if labels_allowed else "")
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if arr.shape != (n_samples, n_outputs):
        raise ValueError(f"{name} must have shape ({n_samples}, {n_outputs}), got {arr.shape}")
    return _converted(arr, dtype, name)


def check_positive_int(value, name, minimum=1):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_real(value, name, low=None, high=None, low_open=False, high_open=True):
    """A finite real number within [low, high) (bounds optional; open/closed as given)."""
    if type(value) is not float and (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return float(value)
