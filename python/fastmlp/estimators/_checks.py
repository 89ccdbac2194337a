"""Input and hyper-parameter checks of the estimators.

Arrays go through :mod:`fastmlp._validation` (one conversion, finite, non-empty); this module adds what an
estimator needs on top: scikit-learn's wording for the errors its tooling matches on (feature counts,
empty inputs, complex data), dense-only input, class labels, and the hyper-parameter checks that run at
fit time (each a ValueError naming the parameter).
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from .._validation import as_float_array, check_positive_int, check_real
from ._exceptions import DataConversionWarning, also_sklearn

DTYPES = ("float32", "float64")


# ---------------------------------------------------------------------------- arrays
def _is_sparse(X):
    return type(X).__module__.startswith("scipy.sparse")


def check_X(X, dtype, estimator, n_features=None, name="X"):
    """X as a C-contiguous (n_samples, n_features) array of ``dtype``.

    Object arrays of numbers are converted; sparse matrices, complex numbers, 1-D arrays, empty arrays,
    NaN/inf and (with ``n_features``) a wrong number of features raise errors scikit-learn recognises.
    """
    if X is None:
        raise ValueError(f"{name} is None; expected an array of shape (n_samples, n_features)")
    if _is_sparse(X):
        raise TypeError(f"{name} is a sparse matrix; {type(estimator).__name__} needs dense input "
                        f"(use {name}.toarray())")
    try:
        arr = np.asarray(X)
        if arr.dtype.kind == "O":
            arr = arr.astype(np.float64)
    except OverflowError as exc:  # a Python int beyond float64
        raise ValueError(f"{name} holds a number beyond the range of float64 ({exc})") from None
    except (TypeError, ValueError) as exc:  # ragged nesting, or an element that is not a number
        raise TypeError(f"{name} must be an array of real numbers: {exc}") from None
    if arr.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {arr.dtype}")
    if arr.ndim == 1:
        raise ValueError(f"Expected a 2-D array (n_samples, n_features) for {name}, got a 1-D array of "
                         f"shape {arr.shape}. Reshape your data with {name}.reshape(-1, 1) if it has a "
                         f"single feature or {name}.reshape(1, -1) if it is a single sample.")
    if arr.ndim == 2:
        for axis, what in ((0, "sample"), (1, "feature")):
            if arr.shape[axis] == 0:
                raise ValueError(f"Found array with 0 {what}(s) (shape={arr.shape}) while a minimum of 1 "
                                 f"is required: {name} is empty.")
        if n_features is not None and arr.shape[1] != n_features:
            raise ValueError(f"{name} has {arr.shape[1]} features, but {type(estimator).__name__} is expecting "
                             f"{n_features} features as input.")
    return as_float_array(arr, dtype, name)


def check_class_labels(y, n_samples, estimator, warn_column=True):
    """y as a 1-D array of class labels for n_samples. A column vector is accepted and flattened, with a
    DataConversionWarning when warn_column (fit does, as scikit-learn's estimators do; score does not)."""
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None.")
    if _is_sparse(y):
        raise TypeError("y is a sparse matrix; pass class labels as a dense 1-D array")
    try:
        y = np.asarray(y)
    except ValueError as exc:  # ragged nesting
        raise ValueError(f"y must be a 1-D array of class labels: {exc}") from None
    if y.ndim == 2 and y.shape[1] == 1:
        if warn_column:  # scikit-learn's wording, which its estimator checks look for
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please change the shape of "
                          "y to (n_samples, ), for example using ravel().", also_sklearn(DataConversionWarning),
                          stacklevel=4)
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"y should be a 1d array of class labels (n_samples,), got shape {y.shape}; "
                         "one-hot and multi-output targets are not supported")
    if y.shape[0] != n_samples:
        raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]} labels")
    if y.dtype.kind == "c":
        raise ValueError("Complex data not supported in y")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        if np.any(y != np.floor(y)):
            raise ValueError("Unknown label type: continuous. A classifier needs discrete class labels "
                             "(ints, strings, ...), not real-valued targets")
    if y.dtype.kind not in "biufUSO":
        raise ValueError(f"Unknown label type: y has dtype {y.dtype}")
    return y


def unique_labels(labels, name="y"):
    """The sorted distinct labels; labels that cannot be ordered (e.g. str mixed with int) raise TypeError."""
    try:
        return np.unique(np.asarray(labels))
    except TypeError as exc:
        raise TypeError(f"{name} mixes labels that cannot be compared (e.g. strings and numbers): "
                        f"{exc}") from None


def encode_labels(y, classes):
    """Indices of y's labels in the sorted array ``classes`` as int32; unseen labels raise ValueError."""
    try:
        codes = np.searchsorted(classes, y)
    except TypeError as exc:
        raise TypeError(f"y holds labels that cannot be compared with classes_ {classes.tolist()!r}: "
                        f"{exc}") from None
    clipped = np.minimum(codes, len(classes) - 1)
    unseen = classes[clipped] != y
    if np.any(unseen):
        raise ValueError(f"y contains labels not seen in classes_ {classes.tolist()!r}: "
                         f"{np.unique(y[unseen]).tolist()!r}")
    return np.ascontiguousarray(codes, dtype=np.int32)


# ---------------------------------------------------------------------------- hyper-parameters
def check_choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_dtype(value):
    name = getattr(value, "__name__", value)
    name = np.dtype(value).name if isinstance(value, np.dtype) else name
    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {value!r}")
    return name


def check_verbose(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return check_positive_int(value, "verbose", minimum=0) > 0


def check_callbacks(callbacks):
    if callbacks is None:
        return []
    if callable(callbacks) or isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
        raise ValueError(f"callbacks must be None or a list of callables, got {callbacks!r}")
    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise ValueError(f"callbacks must hold callables, got {cb!r}")
    return callbacks


def check_random_state(random_state):
    """A NumPy Generator from None, a non-negative int, a Generator or a legacy RandomState."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)) \
            and random_state >= 0:
        return np.random.default_rng(int(random_state))
    raise ValueError(f"random_state must be None, an int >= 0 or a numpy random generator, got {random_state!r}")


def check_fraction(value, name):
    """A number strictly between 0 and 1."""
    return check_real(value, name, 0, 1, low_open=True, high_open=True)


__all__ = ["check_X", "check_class_labels", "unique_labels", "encode_labels", "check_choice", "check_bool",
           "check_dtype", "check_verbose", "check_callbacks", "check_random_state", "check_fraction",
           "check_positive_int", "check_real"]
