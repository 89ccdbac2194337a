"""Shared helpers of the API fuzz tests (tests/test_fuzz_network.py, test_fuzz_estimators.py,
test_fuzz_core.py) and the edge-case tests (tests/test_edge_cases.py): Hypothesis settings, hostile-input
builders, the oracles, and a child-interpreter runner. Not a test module.

Hostile inputs at every public entry point (issue 7).

Hypothesis throws shapes (0, 1, mismatched, a (1, 10^6) feature row, a batch far larger than the data),
dtypes (ints, bool, float16, long double, complex, object, str, datetime), memory layouts (Fortran order,
strided and negative-stride views, read-only, byte-swapped), NaN/inf and bad labels at:

* ``fastmlp.Network``: forward, hidden, loss, loss_and_grad, loss_and_grad_flat, train_epoch, set_flat,
  set_parameters; ``fastmlp.kl_sparsity``;
* the estimators: fit, partial_fit, predict, predict_proba, transform, inverse_transform;
* the private ``_core`` kernels and native networks, called with wrong dtypes, shapes and layouts in a
  subprocess, so that a crash fails the test instead of killing pytest.

Every call must either work and agree with the NumPy reference (``fastmlp.reference``) on the inputs as
converted, or raise TypeError/ValueError whose message names the offending argument; a failed call leaves
the parameters untouched. The oracles below restate the documented input rules independently of
``fastmlp._validation``.
"""
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, strategies as st

import fastmlp
from fastmlp import reference as ref

# database=None: no .hypothesis/ directory in the checkout (failures print their reproducing example)
SETTINGS = dict(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CONFIGS = [
    dict(layer_sizes=(3, 4, 2)),  # softmax: integer labels or a dense target matrix
    dict(layer_sizes=(4, 3, 4), output="sigmoid", sparsity_target=0.1, sparsity_weight=0.5, tied_weights=True),
    dict(layer_sizes=(2, 3, 1), hidden_activation="tanh", output="identity"),  # one output: 1-D targets
    dict(layer_sizes=(3, 2, 2, 3), hidden_activation="relu", output="tanh", weight_decay=0.01),
    dict(layer_sizes=(1, 1)),  # a single class, no hidden layer
]
NUMERIC_DTYPES = ["float64", "float32", "float16", "longdouble", "int8", "int32", "int64", "uint8", "bool"]
BAD_DTYPES = ["complex128", "object", "str", "datetime64[s]"]
LAYOUTS = ["C", "F", "strided", "negative", "readonly", "byteswapped", "list"]
BAD_OBJECTS = [None, 3.0, "abc", [[1.0, 2.0], [3.0]], {"a": 1}]


# ----------------------------------------------------------------------------- building inputs
def cast(values, dtype):
    """float64 values as an array of ``dtype`` (integer dtypes get rounded, non-negative values)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return values > 0
    if dt.kind in "iu":
        return np.rint(np.abs(values) if dt.kind == "u" else values).astype(dt)
    if dt.kind == "U":
        return values.astype(str)
    if dt.kind == "M":
        return np.rint(values).astype(np.int64).astype(dt)
    return values.astype(dt)


def relayout(arr, layout):
    """The same values as ``arr`` in another memory layout (or as nested lists)."""
    if layout == "list":
        return arr.tolist()
    if arr.dtype.kind in "OUM" or arr.ndim == 0:
        return arr
    if layout == "F":
        return np.asfortranarray(arr)
    if layout == "strided":
        big = np.zeros(tuple(2 * s for s in arr.shape), arr.dtype)
        view = big[tuple(slice(None, None, 2) for _ in arr.shape)]
        view[...] = arr
        return view
    if layout == "negative":
        return np.flip(np.flip(arr).copy())
    if layout == "readonly":
        out = arr.copy()
        out.flags.writeable = False
        return out
    if layout == "byteswapped" and arr.dtype.itemsize > 1:
        return arr.astype(arr.dtype.newbyteorder())
    return np.ascontiguousarray(arr)


def poison(values, data, allow):
    """Maybe put one NaN or ±inf somewhere into float64 ``values`` (in place)."""
    if allow and values.size and data.draw(st.booleans(), label="poison"):
        index = data.draw(st.integers(0, values.size - 1), label="poison_at")
        values.reshape(-1)[index] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]), label="poison_value")
    return values


def draw_array(data, shape, label, low=-2.0, high=2.0, nan=True, dtypes=NUMERIC_DTYPES + BAD_DTYPES):
    """An array-like as a caller might pass it: values in [low, high), maybe one NaN/inf, any dtype/layout."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label=f"{label}_seed"))
    dtype = data.draw(st.sampled_from(dtypes), label=f"{label}_dtype")
    values = poison(rng.uniform(low, high, shape), data, nan and np.dtype(dtype).kind in "fcOU")
    arr = cast(values, dtype)
    layout = data.draw(st.sampled_from(LAYOUTS), label=f"{label}_layout")
    return relayout(arr, layout)


def names(exc, argument):
    """Whether the exception message names ``argument`` as a word."""
    return re.search(rf"(?<![\w]){re.escape(argument)}(?![\w])", str(exc)) is not None


def expect_failure(call, error, argument):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert isinstance(info.value, error), f"expected {error.__name__}, got {info.value!r}"
    assert names(info.value, argument), f"message does not name {argument!r}: {info.value}"


# ----------------------------------------------------------------------------- the oracles
def expected_X_error(X, n_features):
    """The error Network should raise for X (None when X is valid), and X as converted to float64."""
    try:
        arr = np.asarray(X)
    except ValueError:  # a ragged nested list
        return TypeError, None
    if arr.dtype.kind not in "biuf":
        return TypeError, None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.size == 0 or arr.shape[1] != n_features:
        return ValueError, None
    if not np.isfinite(arr.astype(np.float64)).all():
        return ValueError, None
    return None, arr


def core_finds_non_finite(X, net):
    """Whether X's only fault is a NaN/inf that the native call finds (train_epoch, loss, loss_and_grad(_flat)):
    X taken as it is (an aligned C-contiguous array of the network's dtype and shape), so no Python pass looks
    at its values; its error then comes after every other argument's."""
    return (isinstance(X, np.ndarray) and X.dtype == net.dtype and X.flags.c_contiguous and X.flags.aligned
            and X.ndim == 2 and X.shape[0] > 0 and X.shape[1] == net.layer_sizes[0]
            and not np.isfinite(X).all())


def expected_Y_error(Y, n, k, softmax):
    """(error or None, targets for the reference: int64 labels or a float64 (n, k) matrix)."""
    try:
        arr = np.asarray(Y)
    except ValueError:
        return TypeError, None
    if arr.dtype.kind not in "biuf":
        return TypeError, None
    if arr.ndim == 1 and arr.dtype.kind in "biu" and softmax:
        if arr.shape[0] != n:
            return ValueError, None
        labels = arr.astype(np.int64) if arr.dtype != np.uint64 else arr
        if arr.size and (labels.min() < 0 or labels.max() >= k):
            return ValueError, None
        return None, labels.astype(np.int64)
    if arr.ndim == 1 and k == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape != (n, k) or not np.isfinite(arr.astype(np.float64)).all():
        return ValueError, None
    return None, arr


def tolerance(dtype):
    return dict(rtol=1e-9, atol=1e-11) if np.dtype(dtype) == np.float64 else dict(rtol=2e-4, atol=2e-5)


def twin_of(net, config, seed=0):
    """The NumPy reference network with net's parameters (and, given net's seed, its epoch shuffle)."""
    twin = ref.Network(**config, dtype="float64", seed=seed)
    twin.set_flat(net.get_flat().astype(np.float64))
    return twin


def as_net_dtype(arr, net):
    """What the reference should see: the input rounded to the network's dtype, in float64."""
    return np.asarray(arr).astype(net.dtype).astype(np.float64)


def draw_X(data, net):
    n_in = net.layer_sizes[0]
    n = data.draw(st.sampled_from([0, 1, 2, 5]), label="n")
    d = data.draw(st.sampled_from([n_in, n_in, n_in, 0, n_in + 1, max(n_in - 1, 0), "huge"]), label="d")
    if d == "huge":  # a (1, 10^6) feature mismatch: 8 MB, never the network's width
        return np.zeros((1, 10**6)), 1
    ndim = data.draw(st.sampled_from([2, 2, 2, 2, 1, 3, 0]), label="X_ndim")
    shape = {2: (n, d), 1: (d,), 3: (n, d, 1), 0: ()}[ndim]
    if data.draw(st.integers(0, 30), label="X_bad_object") == 0:
        return data.draw(st.sampled_from(BAD_OBJECTS), label="X_object"), n
    return draw_array(data, shape, "X"), n


def draw_Y(data, net, n):
    k = net.layer_sizes[-1]
    n_y = data.draw(st.sampled_from([n, n, n, n + 1, max(n - 1, 0)]), label="n_y")
    kind = data.draw(st.sampled_from(["labels", "labels", "dense", "dense", "vector", "bad"]), label="Y_kind")
    if kind == "labels":
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="Y_seed"))
        labels = rng.integers(0, k, n_y)
        if n_y and data.draw(st.booleans(), label="out_of_range"):
            labels[data.draw(st.integers(0, n_y - 1), label="bad_at")] = data.draw(
                st.sampled_from([-1, k, 2**31 + 5, -(2**40)]), label="bad_label")
        dtype = data.draw(st.sampled_from(["int8", "int32", "int64", "uint8", "uint64", "bool"]), label="Y_dtype")
        if np.dtype(dtype).kind == "u":
            labels = np.where(labels < 0, k, labels)
        if dtype == "bool":
            labels = np.minimum(np.abs(labels), 1)
        info = np.iinfo(dtype) if dtype != "bool" else None
        if info is not None:
            labels = np.where((labels < info.min) | (labels > info.max), k, labels)
        Y = relayout(labels.astype(dtype), data.draw(st.sampled_from(LAYOUTS), label="Y_layout"))
        return Y
    if kind == "dense":
        k_y = data.draw(st.sampled_from([k, k, k + 1]), label="k_y")
        return draw_array(data, (n_y, k_y), "Y", 0.0, 1.0)
    if kind == "vector":
        return draw_array(data, (n_y,), "Y", 0.0, 1.0, dtypes=["float64", "float32", "float16"])
    return data.draw(st.sampled_from(BAD_OBJECTS + [np.ones((n_y, k), complex)]), label="Y_object")


@st.composite
def networks(draw):
    index = draw(st.integers(0, len(CONFIGS) - 1), label="config")
    dtype = draw(st.sampled_from(["float32", "float64"]), label="dtype")
    config = CONFIGS[index]
    return fastmlp.Network(**config, dtype=dtype, seed=index), config, index


# ----------------------------------------------------------------------------- running a child interpreter
SANITIZER_SIGNS = ("runtime error:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "SUMMARY: AddressSanitizer",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def run_child(code, *args, timeout=300, known_sanitizer_finding=False):
    """Run ``code`` in a fresh interpreter. Under scripts/sanitize.sh, any sanitizer report in its stderr is
    also filed in $FASTMLP_SANITIZER_REPORTS (so it fails the job even where the test expects the child to
    fail), unless the test tracks it as a known finding."""
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)
    reports = os.environ.get("FASTMLP_SANITIZER_REPORTS")
    if reports and not known_sanitizer_finding and any(sign in proc.stderr for sign in SANITIZER_SIGNS):
        path = os.path.join(reports, f"child-{os.getpid()}-{abs(hash(code)) % 10**8}-{time.time_ns()}.txt")
        with open(path, "w") as f:
            f.write(proc.stderr)
    return proc
