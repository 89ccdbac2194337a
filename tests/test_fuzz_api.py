"""Hostile inputs at every public entry point (issue 7).

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
import json
import os
import re
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

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


# ----------------------------------------------------------------------------- Network
@settings(max_examples=250, **SETTINGS)
@given(built=networks(), data=st.data())
def test_network_methods_on_hostile_inputs(built, data):
    net, config, seed = built
    softmax = net.output == "softmax"
    X, n = draw_X(data, net)
    method = data.draw(st.sampled_from(["forward", "hidden", "loss", "loss_and_grad", "loss_and_grad_flat",
                                        "train_epoch"]), label="method")
    before = net.get_flat()
    x_error, X_valid = expected_X_error(X, net.layer_sizes[0])
    twin = twin_of(net, config, seed)
    tol = tolerance(net.dtype)

    if method in ("forward", "hidden"):
        n_hidden = len(net.layer_sizes) - 2
        if method == "hidden":
            layer = data.draw(st.sampled_from([0, 0, 1, -1, n_hidden, 0.0, True, "0", np.int64(0)]), label="layer")
            layer_ok = isinstance(layer, (int, np.integer)) and not isinstance(layer, bool) and 0 <= layer < n_hidden
            if not layer_ok:
                expect_failure(lambda: net.hidden(X, layer), ValueError, "layer")
            elif x_error:
                expect_failure(lambda: net.hidden(X, layer), x_error, "X")
            else:
                np.testing.assert_allclose(net.hidden(X, layer), twin.hidden(as_net_dtype(X_valid, net), int(layer)),
                                           **tol)
        elif x_error:
            expect_failure(lambda: net.forward(X), x_error, "X")
        else:
            out = net.forward(X)
            assert out.dtype == net.dtype and out.flags.c_contiguous
            np.testing.assert_allclose(out, twin.forward(as_net_dtype(X_valid, net)), **tol)
        np.testing.assert_array_equal(net.get_flat(), before)
        return

    Y = draw_Y(data, net, n if X_valid is None else X_valid.shape[0])
    n_rows = X_valid.shape[0] if X_valid is not None else n
    y_error, Y_valid = expected_Y_error(Y, n_rows, net.layer_sizes[-1], softmax)
    if Y_valid is not None and Y_valid.ndim == 2:
        Y_valid = as_net_dtype(Y_valid, net)

    if method == "loss_and_grad_flat":
        theta_kind = data.draw(st.sampled_from(["ok", "ok", "ok", "short", "nan", "2d", "int", "F"]), label="theta")
        theta = before.astype(np.float64) + 0.01
        if theta_kind == "short":
            theta = theta[:-1]
        elif theta_kind == "nan":
            theta[-1] = np.nan
        elif theta_kind == "2d":
            theta = theta[None, :]
        elif theta_kind == "int":
            theta = np.rint(theta * 10).astype(np.int64)
        elif theta_kind == "F":
            theta = theta[::-1].copy()[::-1]
        call = lambda: net.loss_and_grad_flat(theta, X, Y)  # noqa: E731
        if theta_kind in ("short", "nan", "2d"):
            expect_failure(call, ValueError, "theta")
            np.testing.assert_array_equal(net.get_flat(), before)
            return
        twin.set_flat(theta.astype(net.dtype).astype(np.float64))
        if x_error or y_error:
            expect_failure(call, x_error or y_error, "X" if x_error else "Y")
            return
        loss, grad = call()
        want_loss, want_grad = twin.loss_and_grad(as_net_dtype(X_valid, net), Y_valid)
        np.testing.assert_allclose(loss, want_loss, **tol)
        np.testing.assert_allclose(grad, want_grad, **tol)
        return

    if method == "train_epoch":
        batch_size = data.draw(st.sampled_from([1, 2, 3, 10**9, 0, -1, 2.0, True, None]), label="batch_size")
        optimizer = data.draw(st.sampled_from(["sgd", "momentum", "adam", "rmsprop", None]), label="optimizer")
        learning_rate = data.draw(st.sampled_from([0.05, 0.5, 0.0, -0.1, np.nan, np.inf, "0.1"]), label="lr")
        call = lambda: net.train_epoch(X, Y, batch_size, optimizer=optimizer, learning_rate=learning_rate)  # noqa
        batch_ok = isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1
        if x_error or y_error:
            expect_failure(call, x_error or y_error, "X" if x_error else "Y")
        elif not batch_ok:
            expect_failure(call, ValueError, "batch_size")
        elif optimizer not in ("sgd", "momentum", "adam"):
            expect_failure(call, ValueError, "optimizer")
        elif not (isinstance(learning_rate, float) and np.isfinite(learning_rate) and learning_rate > 0):
            expect_failure(call, ValueError, "learning_rate")
        else:
            loss = call()
            want = twin.train_epoch(as_net_dtype(X_valid, net), Y_valid, batch_size, optimizer=optimizer,
                                    learning_rate=learning_rate)
            assert np.isfinite(net.get_flat()).all()
            if optimizer == "adam" and net.dtype == np.float32:
                # Adam scales each step to ~learning_rate whatever the gradient's size, so a near-zero
                # gradient component whose float32 rounding differs moves differently: compare loosely.
                np.testing.assert_allclose(net.get_flat(), twin.get_flat(), atol=2 * learning_rate)
            else:
                np.testing.assert_allclose(loss, want, **tol)
                np.testing.assert_allclose(net.get_flat(), twin.get_flat(), rtol=tol["rtol"] * 10,
                                           atol=tol["atol"] * 10)
            return
        np.testing.assert_array_equal(net.get_flat(), before)
        return

    call = (lambda: net.loss(X, Y)) if method == "loss" else (lambda: net.loss_and_grad(X, Y))
    if x_error or y_error:
        expect_failure(call, x_error or y_error, "X" if x_error else "Y")
    else:
        result = call()
        want_loss, want_grad = twin.loss_and_grad(as_net_dtype(X_valid, net), Y_valid)
        if method == "loss":
            np.testing.assert_allclose(result, want_loss, **tol)
        else:
            loss, gw, gb = result
            np.testing.assert_allclose(loss, want_loss, **tol)
            np.testing.assert_allclose(np.concatenate([g.ravel() for g in gw + gb]), want_grad, **tol)
    np.testing.assert_array_equal(net.get_flat(), before)


@settings(max_examples=120, **SETTINGS)
@given(built=networks(), data=st.data())
def test_set_flat_and_set_parameters_on_hostile_inputs(built, data):
    net, config, _ = built
    before = net.get_flat()
    size = net.n_parameters
    if data.draw(st.booleans(), label="flat"):
        length = data.draw(st.sampled_from([size, size, size, size - 1, size + 1, 0]), label="length")
        ndim = data.draw(st.sampled_from([1, 1, 1, 2, 0]), label="ndim")
        shape = {1: (length,), 2: (1, length), 0: ()}[ndim]
        theta = draw_array(data, shape, "theta")
        arr = np.asarray(theta)
        if arr.dtype.kind not in "biuf":
            expect_failure(lambda: net.set_flat(theta), TypeError, "theta")
        elif arr.ndim != 1 or arr.shape[0] != size or not np.isfinite(arr.astype(np.float64)).all():
            expect_failure(lambda: net.set_flat(theta), ValueError, "theta")
        else:
            net.set_flat(theta)
            np.testing.assert_array_equal(net.get_flat(), arr.astype(net.dtype))
            return
        np.testing.assert_array_equal(net.get_flat(), before)
        return

    shapes = [w.shape for w in net.weights] + [b.shape for b in net.biases]
    n_weights = len(net.weights)
    given_arrays, problem = [], None
    for i, shape in enumerate(shapes):
        kind, index = ("weights", i) if i < n_weights else ("biases", i - n_weights)
        mutation = data.draw(st.sampled_from(["none"] * 6 + ["transpose", "extra_dim", "bad_dtype", "nan"]),
                             label=f"mutation{i}")
        if mutation == "transpose" and (len(shape) != 2 or shape[0] == shape[1]):
            mutation = "none"
        target_shape = {"transpose": shape[::-1], "extra_dim": shape + (1,)}.get(mutation, shape)
        rng = np.random.default_rng(i)
        values = rng.uniform(-1, 1, target_shape)
        if mutation == "nan":
            values.reshape(-1)[0] = np.nan
        dtypes = ["float64", "float32", "float16"] + (["int32"] if mutation != "nan" else [])
        dtype = "complex128" if mutation == "bad_dtype" else data.draw(st.sampled_from(dtypes), label=f"dtype{i}")
        arr = relayout(cast(values, dtype), data.draw(st.sampled_from(LAYOUTS), label=f"layout{i}"))
        given_arrays.append(arr)
        if problem is None and mutation != "none":
            problem = (TypeError if mutation == "bad_dtype" else ValueError, f"{kind}[{index}]")
    weights, biases = given_arrays[:n_weights], given_arrays[n_weights:]
    count = data.draw(st.sampled_from(["ok"] * 5 + ["fewer", "more"]), label="count")
    if count == "fewer":
        weights = weights[:-1]
        problem = (ValueError, "weight")
    elif count == "more":
        biases = biases + [np.zeros(3)]
        problem = (ValueError, "bias")
    if problem is not None:
        expect_failure(lambda: net.set_parameters(weights, biases), *problem)
        np.testing.assert_array_equal(net.get_flat(), before)
        return
    net.set_parameters(weights, biases)
    for got, want in zip(net.weights + net.biases, weights + biases):
        np.testing.assert_array_equal(got, np.asarray(want).astype(net.dtype))
    twin = twin_of(net, config)
    X = np.random.default_rng(1).uniform(0, 1, (4, net.layer_sizes[0]))
    np.testing.assert_allclose(net.forward(X), twin.forward(as_net_dtype(X, net)), **tolerance(net.dtype))


@settings(max_examples=150, **SETTINGS)
@given(data=st.data())
def test_kl_sparsity_on_hostile_inputs(data):
    n = data.draw(st.sampled_from([0, 1, 3]), label="n")
    m = data.draw(st.sampled_from([0, 1, 4]), label="m")
    ndim = data.draw(st.sampled_from([2, 2, 1, 3, 0]), label="ndim")
    shape = {2: (n, m), 1: (n,), 3: (n, m, 2), 0: ()}[ndim]
    # activations at exactly 0 and 1 (dead and saturated units) are valid and must give a finite value
    saturate = data.draw(st.sampled_from([None, 0.0, 1.0]), label="saturate")
    H = draw_array(data, shape, "H", 0.0, 1.0)
    if saturate is not None and isinstance(H, np.ndarray) and H.dtype.kind == "f" and H.size:
        H = np.full(H.shape, saturate, H.dtype)
    target = data.draw(st.sampled_from([0.05, 0.5, np.float32(0.2), 0.0, 1.0, -0.1, np.nan, "0.1", True, None]),
                       label="target")
    arr = np.asarray(H)
    if arr.dtype.kind not in "biuf":
        expect_failure(lambda: fastmlp.kl_sparsity(H, target), TypeError, "H")
        return
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.size == 0 or not np.isfinite(arr.astype(np.float64)).all():
        expect_failure(lambda: fastmlp.kl_sparsity(H, target), ValueError, "H")
        return
    if isinstance(target, (bool, str)) or target is None or not 0 < target < 1:
        expect_failure(lambda: fastmlp.kl_sparsity(H, target), ValueError, "target")
        return
    value = fastmlp.kl_sparsity(H, target)
    assert np.isfinite(value)
    np.testing.assert_allclose(value, ref.kl_sparsity(arr.astype(np.float64), float(target)), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- estimators
def _estimator(draw_kind, dtype):
    common = dict(max_epochs=2, batch_size=4, random_state=0, dtype=dtype, learning_rate=0.05, solver="sgd")
    if draw_kind == "softmax":
        return fastmlp.SoftmaxRegression(**common)
    if draw_kind == "mlp":
        return fastmlp.MLPClassifier(hidden_layer_sizes=(3,), **common)
    return fastmlp.Autoencoder(n_hidden=2, **common)


SKLEARN_MESSAGES = ("Found array with 0 sample(s)", "Found array with 0 feature(s)")


def expect_estimator_failure(call, argument):
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    message = str(info.value)
    assert names(info.value, argument) or message.startswith(SKLEARN_MESSAGES), \
        f"message does not name {argument!r}: {message}"


@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_estimators_on_hostile_inputs(data):
    kind = data.draw(st.sampled_from(["softmax", "mlp", "autoencoder"]), label="kind")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    classifier = kind != "autoencoder"
    n_features = 3

    # fit on hostile X (and y): must equal fit on the clean C-contiguous float64 copy, or fail cleanly
    n = data.draw(st.sampled_from([8, 8, 8, 0, 1]), label="n")
    d = data.draw(st.sampled_from([n_features] * 4 + [0, n_features + 1]), label="d")
    X = draw_array(data, (n, d), "X", 0.0, 1.0)
    est = _estimator(kind, dtype)
    if classifier:
        y_kind = data.draw(st.sampled_from(["ints", "ints", "strings", "floats", "short", "nan", "2d", "none"]),
                           label="y_kind")
        labels = np.arange(n) % 3
        y = {"ints": labels, "strings": np.array(["a", "b", "c"])[labels], "floats": labels.astype(float),
             "short": labels[:-1], "nan": np.where(labels == 0, np.nan, labels.astype(float)),
             "2d": np.stack([labels, labels], 1), "none": None}[y_kind]
        if y is not None and not isinstance(y, list):
            y = relayout(y, data.draw(st.sampled_from(["C", "strided", "negative", "readonly", "list"]),
                                      label="y_layout"))
        fit = lambda: est.fit(X, y)  # noqa: E731
    else:
        y_kind = "ints"
        fit = lambda: est.fit(X)  # noqa: E731
    arr = None
    try:
        arr = np.asarray(X)
    except ValueError:
        pass
    x_bad = arr is None or arr.dtype.kind not in "biufO" or arr.ndim != 2 or 0 in arr.shape or (
        arr.dtype.kind != "O" and not np.isfinite(arr.astype(np.float64)).all())
    if arr is not None and arr.dtype.kind == "O" and not x_bad:
        try:
            x_bad = not np.isfinite(arr.astype(np.float64)).all()
        except (TypeError, ValueError):
            x_bad = True
    if x_bad:
        expect_estimator_failure(fit, "X")
        return
    if classifier and y_kind in ("short", "nan", "2d", "none"):
        expect_estimator_failure(fit, "y")
        return
    fit()
    X64 = arr.astype(np.float64)
    clean = _estimator(kind, dtype)
    clean.fit(np.ascontiguousarray(X64), None if not classifier else np.asarray(y))
    np.testing.assert_array_equal(est.network_.get_flat(), clean.network_.get_flat())
    assert np.isfinite(est.loss_curve_).all()

    # predict / transform on hostile inputs: the reference network on the converted input, or a clean error
    net = est.network_
    config = dict(layer_sizes=net.layer_sizes, hidden_activation=net.hidden_activation, output=net.output,
                  loss=net.loss_name, tied_weights=net.tied_weights)
    twin = twin_of(net, config)
    n_features = arr.shape[1]
    m = data.draw(st.sampled_from([1, 4, 4, 0]), label="m")
    width = data.draw(st.sampled_from([n_features] * 4 + [n_features + 1, "huge"]), label="width")
    Xp = np.zeros((1, 10**6)) if width == "huge" else draw_array(data, (m, width), "Xp", 0.0, 1.0)
    error, Xp_valid = expected_X_error(Xp, n_features)
    if isinstance(Xp, np.ndarray) and Xp.dtype.kind == "O" and error is TypeError:
        error = None  # estimators convert object arrays of numbers, like scikit-learn
        try:
            Xp_valid = Xp.astype(np.float64)
            if Xp_valid.ndim != 2 or 0 in Xp_valid.shape or Xp_valid.shape[1] != n_features \
                    or not np.isfinite(Xp_valid).all():
                error = ValueError
        except (TypeError, ValueError):
            error = TypeError
    methods = ["predict", "predict_proba", "partial_fit"] if classifier else \
        ["transform", "reconstruct", "partial_fit", "inverse_transform"]
    method = data.draw(st.sampled_from(methods), label="method")
    before = net.get_flat()
    if method == "inverse_transform":
        n_hidden = net.layer_sizes[1]
        width_h = data.draw(st.sampled_from([n_hidden] * 3 + [n_hidden + 1]), label="width_h")
        H = draw_array(data, (m, width_h), "H", 0.0, 1.0, dtypes=NUMERIC_DTYPES + ["complex128", "str"])
        error, H_valid = expected_X_error(H, n_hidden)
        if error:
            expect_estimator_failure(lambda: est.inverse_transform(H), "H")
        else:
            decoder = ref.Network(net.layer_sizes[1:], output=net.output, loss=net.loss_name, dtype="float64", seed=0)
            matrix = net.weights[0].T if net.tied_weights else net.weights[1]
            decoder.set_flat(np.concatenate([matrix.ravel(), net.biases[1]]).astype(np.float64))
            np.testing.assert_allclose(est.inverse_transform(H), decoder.forward(as_net_dtype(H_valid, net)),
                                       **tolerance(dtype))
        return
    if method == "partial_fit":
        y_more = est.classes_[np.arange(m) % len(est.classes_)] if classifier else None
        call = (lambda: est.partial_fit(Xp, y_more)) if classifier else (lambda: est.partial_fit(Xp))
        if error:
            expect_estimator_failure(call, "X")
            np.testing.assert_array_equal(net.get_flat(), before)
        else:
            call()
            assert np.isfinite(est.network_.get_flat()).all() and np.isfinite(est.loss_curve_).all()
        return
    call = getattr(est, method)
    if error:
        expect_estimator_failure(lambda: call(Xp), "X")
        return
    got = call(Xp)
    X_ref = as_net_dtype(Xp_valid, net)
    want = {"predict_proba": lambda: twin.forward(X_ref), "reconstruct": lambda: twin.forward(X_ref),
            "transform": lambda: twin.hidden(X_ref, 0),
            "predict": lambda: est.classes_[np.argmax(twin.forward(X_ref), axis=1)]}[method]()
    if method == "predict":
        np.testing.assert_array_equal(got, est.classes_[np.argmax(est.predict_proba(Xp), axis=1)])
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, **tolerance(dtype))


@pytest.mark.parametrize("estimator", ["softmax", "mlp", "autoencoder"])
def test_estimators_reject_hyperparameters_by_name(estimator):
    X, y = np.random.default_rng(0).uniform(0, 1, (10, 3)), np.arange(10) % 2
    bad = [("batch_size", 0), ("batch_size", 2.5), ("max_epochs", -1), ("learning_rate", np.nan),
           ("learning_rate", -1.0), ("solver", "newton"), ("dtype", "float16"), ("momentum", 1.0),
           ("validation_fraction", 1.0), ("tol", -1.0), ("random_state", -3), ("weight_decay", np.inf),
           ("shuffle", "yes"), ("n_iter_no_change", 0)]
    for name, value in bad:
        est = _estimator(estimator, "float32").set_params(**{name: value})
        call = (lambda: est.fit(X, y)) if estimator != "autoencoder" else (lambda: est.fit(X))
        expect_estimator_failure(call, name)


# ----------------------------------------------------------------------------- the private core, in a subprocess
CHILD = textwrap.dedent(r'''
    import json, sys
    import numpy as np
    from hypothesis import HealthCheck, given, settings, strategies as st
    from fastmlp import _core, reference as ref

    KERNELS = {
        # name: (array arguments as shape templates over the sizes n, m, k; scalar arguments)
        "activation_forward": ([("Z", "nm")], [("activation", "act")]),
        "activation_backward": ([("dA", "nm"), ("A", "nm"), ("per_unit_grad", "m?")], [("activation", "act")]),
        "softmax_forward": ([("Z", "nm")], []),
        "softmax_backward": ([("dYhat", "nm"), ("Yhat", "nm")], []),
        "dense_forward": ([("X", "nk"), ("W", "mk"), ("b", "m")], [("activation", "act"), ("transpose_w", "bool")]),
        "dense_backward": ([("dZ", "nm"), ("X", "nk"), ("W", "mk")], [("transpose_w", "bool")]),
        "softmax_cross_entropy_forward": ([("Z", "nm"), ("Y", "nm")], []),
        "sigmoid_binary_cross_entropy_forward": ([("Z", "nm"), ("Y", "nm")], []),
        "squared_error_forward": ([("Yhat", "nm"), ("Y", "nm")], []),
        "output_error_backward": ([("Yhat", "nm"), ("Y", "nm")], []),
        "squared_error_forward_backward": ([("Z", "nm"), ("b", "m"), ("Y", "nm")], [("activation", "act")]),
        "sparse_kl_penalty_forward": ([("H", "nm")], [("target", "frac"), ("weight", "real")]),
        "sparse_kl_penalty_backward": ([("H", "nm")], [("target", "frac"), ("weight", "real")]),
        "weight_decay_forward": ([("W", "nm")], [("weight_decay", "real")]),
        "weight_decay_backward": ([("W", "nm")], [("weight_decay", "real")]),
        "sgd_update": ([("theta", "k"), ("grad", "k")], [("learning_rate", "real")]),
        "momentum_update": ([("theta", "k"), ("velocity", "k"), ("grad", "k")],
                            [("learning_rate", "real"), ("momentum", "frac"), ("nesterov", "bool")]),
        "adam_update": ([("theta", "k"), ("m", "k"), ("v", "k"), ("grad", "k")],
                        [("learning_rate", "real"), ("beta1", "frac"), ("beta2", "frac"), ("eps", "real"),
                         ("step", "step")]),
    }
    IN_PLACE = {"sgd_update": 1, "momentum_update": 2, "adam_update": 3}
    SCALARS = {
        "act": st.sampled_from(["identity", "sigmoid", "tanh", "relu", "softmax", "bogus", "", None, 3]),
        "bool": st.sampled_from([False, True, None, "yes"]),
        "frac": st.sampled_from([0.1, 0.5, 0.9, 0.0, 1.0, -0.5, float("nan"), "x", None]),
        "real": st.sampled_from([0.0, 0.01, 1.0, -1.0, 1e30, float("inf"), float("nan"), "x", None, 2**70]),
        "step": st.sampled_from([1, 2, 100, 0, -1, 2**40, 2**63, 2**70, 1.5, None]),
    }
    LAYOUTS = ["C"] * 6 + ["F", "strided", "negative", "readonly", "0-stride"]
    DTYPES = ["same"] * 6 + ["other", "float16", "int32", "int64", "bool", "complex128", "object", "longdouble"]

    def make(values, dtype, layout):
        arr = values.astype(object) if dtype == "object" else values.astype(dtype)
        if layout == "F":
            arr = np.asfortranarray(arr)
        elif layout == "strided" and arr.ndim:
            big = np.zeros(tuple(2 * s for s in arr.shape), arr.dtype)
            view = big[tuple(slice(None, None, 2) for _ in arr.shape)]
            view[...] = arr
            arr = view
        elif layout == "negative" and arr.ndim:
            arr = np.flip(np.flip(arr).copy())
        elif layout == "readonly":
            arr = arr.copy()
            arr.flags.writeable = False
        elif layout == "0-stride" and arr.ndim and arr.size:
            arr = np.broadcast_to(arr.reshape(-1)[:1].reshape((1,) * arr.ndim), arr.shape)
        return arr

    @st.composite
    def kernel_calls(draw):
        name = draw(st.sampled_from(sorted(KERNELS)))
        arrays, scalars = KERNELS[name]
        base = draw(st.sampled_from(["float32", "float64"]))
        sizes = {s: draw(st.integers(1, 3)) for s in "nmk"}
        args, shapes = {}, {}
        for arg, template in arrays:
            optional = template.endswith("?")
            template = template.rstrip("?")
            if optional and draw(st.booleans()):
                continue
            shape = [sizes[s] for s in template]
            mutation = draw(st.sampled_from(["none"] * 5 + ["dim", "zero", "ndim+", "ndim-", "scalar"]))
            if mutation == "dim":
                i = draw(st.integers(0, len(shape) - 1))
                shape[i] = draw(st.sampled_from([1, 2, 3, 4, 5]))
            elif mutation == "zero":
                shape[draw(st.integers(0, len(shape) - 1))] = 0
            elif mutation == "ndim+":
                shape = shape + [draw(st.integers(1, 2))]
            elif mutation == "ndim-":
                shape = shape[:-1]
            if mutation == "scalar":
                args[arg] = draw(st.sampled_from([None, 1.0, [1.0, 2.0], "x"]))
                continue
            rng = np.random.default_rng(draw(st.integers(0, 1000)))
            values = rng.uniform(0.05, 0.95, shape) if name.startswith("sparse") else rng.standard_normal(shape)
            dtype = draw(st.sampled_from(DTYPES))
            dtype = {"same": base, "other": "float64" if base == "float32" else "float32"}.get(dtype, dtype)
            args[arg] = make(values, dtype, draw(st.sampled_from(LAYOUTS)))
        for arg, kind in scalars:
            args[arg] = draw(SCALARS[kind])
        return name, args

    def as_ref(v):
        return np.array(v, dtype=np.float64) if isinstance(v, np.ndarray) else v

    @settings(max_examples=int(sys.argv[1]), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(call=kernel_calls())
    def fuzz_kernels(call):
        name, args = call
        in_place = [a for a, _ in KERNELS[name][0]][:IN_PLACE.get(name, 0)]
        # the reference gets float64 copies taken before the native call updates anything in place
        ref_args = {k: as_ref(v) for k, v in args.items()}
        try:
            result = getattr(_core, name)(**args)
        except (TypeError, ValueError) as exc:
            assert str(exc), name
            return
        # Accepted: the reference must accept the same arrays (as float64) and agree.
        if in_place:
            ref_args = {k: (v.reshape(-1) if isinstance(v, np.ndarray) else v) for k, v in ref_args.items()}
        try:
            want = getattr(ref, name)(**ref_args)
        except Exception as exc:  # noqa: BLE001
            shapes = {k: getattr(v, "shape", v) for k, v in args.items()}
            raise AssertionError(f"{name} accepted arguments the reference rejects ({exc!r}): {shapes}")
        if in_place:
            result = [np.asarray(args[a]).reshape(-1) for a in in_place]
            want = [ref_args[a] for a in in_place]
        dtype = next(v.dtype for v in args.values() if isinstance(v, np.ndarray))
        tol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-10)
        got_parts = result if isinstance(result, (tuple, list)) else [result]
        want_parts = want if isinstance(want, (tuple, list)) else [want]
        assert len(got_parts) == len(want_parts), name
        for g, w in zip(got_parts, want_parts):
            np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(w, np.float64), equal_nan=True,
                                       err_msg=name, **tol)

    NET_METHOD_ARGS = st.sampled_from(["forward", "loss_and_grad", "train_epoch"])

    @st.composite
    def network_calls(draw):
        sizes = draw(st.sampled_from([[3, 2], [3, 4, 2], [2, 3, 2], [0, 2], [3], [], [2**31, 1], [-1, 2], [3, "x"]]))
        hidden = draw(st.sampled_from(["sigmoid", "relu", "softmax", "nope"]))
        output = draw(st.sampled_from(["softmax", "sigmoid", "identity", "nope"]))
        loss = draw(st.sampled_from(["cross_entropy", "binary_cross_entropy", "squared_error", "nope"]))
        target = draw(st.sampled_from([0.1, 0.0, 1.0, float("nan")]))
        weight = draw(st.sampled_from([0.0, 0.5, -1.0]))
        decay = draw(st.sampled_from([0.0, 0.01, -1.0]))
        tied = draw(st.booleans())
        state = draw(st.sampled_from([0, 2**64 - 1, -1, 2**64]))
        return (draw(st.sampled_from(["NetworkF32", "NetworkF64"])),
                (sizes, hidden, output, loss, target, weight, decay, tied, state),
                draw(st.lists(st.tuples(NET_METHOD_ARGS, st.integers(0, 10**6)), min_size=1, max_size=4)))

    @settings(max_examples=int(sys.argv[2]), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(call=network_calls())
    def fuzz_networks(call):
        cls_name, ctor, methods = call
        try:
            net = getattr(_core, cls_name)(*ctor)
        except (TypeError, ValueError, MemoryError):
            return
        T = np.float32 if cls_name == "NetworkF32" else np.float64
        sizes = ctor[0]
        net.params[:] = np.random.default_rng(0).uniform(-1, 1, net.params.shape)
        for method, seed in methods:
            rng = np.random.default_rng(seed)
            n = int(rng.integers(0, 4))
            d = sizes[0] + int(rng.integers(-1, 2)) if rng.random() < 0.3 else sizes[0]
            X = rng.uniform(0, 1, (n, max(d, 0))).astype(T if rng.random() < 0.85 else np.float64)
            if rng.random() < 0.1:
                X = np.asfortranarray(X) if X.ndim == 2 and min(X.shape) > 1 else X[::-1]
            k = sizes[-1]
            choice = rng.integers(0, 5)
            if choice == 0:
                Y = rng.integers(-1, k + 1, n + int(rng.integers(-1, 2) if rng.random() < 0.2 else 0)).astype(np.int32)
            elif choice == 1:
                Y = rng.integers(0, k, n).astype(np.int64)
            elif choice == 2:
                Y = rng.uniform(0, 1, (n, k + int(rng.integers(-1, 2) if rng.random() < 0.3 else 0))).astype(T)
            elif choice == 3:
                Y = rng.integers(0, k, n).astype(np.int32)[::-1]
            else:
                Y = rng.uniform(0, 1, (n, k)).astype(T)
            try:
                if method == "forward":
                    out = net.forward(X, int(rng.integers(-1, len(sizes))))
                    assert out.shape[0] == X.shape[0]
                elif method == "loss_and_grad":
                    net.loss_and_grad(X, Y, bool(rng.integers(0, 2)))
                else:
                    net.train_epoch(X, Y, int(rng.choice([1, 2, 7, 0, -3, 2**31 - 1])),
                                    str(rng.choice(["sgd", "momentum", "adam", "x"])), float(rng.choice([0.1, 0, -1])),
                                    0.9, bool(rng.integers(0, 2)), 0.9, 0.999, 1e-8, bool(rng.integers(0, 2)))
            except (TypeError, ValueError, FloatingPointError):
                pass
        assert np.isfinite(net.params).all()

    fuzz_kernels()
    fuzz_networks()
    print(json.dumps({"ok": True}))
''')


SANITIZER_RUN = bool(os.environ.get("FASTMLP_SANITIZER_RUN"))
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


def test_private_core_raises_and_never_crashes_in_a_subprocess():
    examples = 150 if SANITIZER_RUN else 400
    proc = run_child(CHILD, examples, examples // 2)
    assert proc.returncode == 0, (
        f"the _core fuzz child exited with {proc.returncode} (negative: killed by that signal)\n"
        f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-8000:]}")
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"ok": True}


# ----------------------------------------------------------------------------- edge cases (each once a bug)
def test_huge_declared_batch_is_clipped_to_the_data():
    net = fastmlp.Network((3, 2), seed=0)
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    twin = fastmlp.Network((3, 2), seed=0)
    net.train_epoch(X, y, 10**9, shuffle=False)
    twin.train_epoch(X, y, 4, shuffle=False)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())


def test_batch_size_beyond_int32_is_clipped_to_the_data():
    """Once passed unclipped to the native int argument: pybind11's 'incompatible function arguments'."""
    net = fastmlp.Network((3, 2), seed=0)
    twin = fastmlp.Network((3, 2), seed=0)
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    net.train_epoch(X, y, 2**31, shuffle=False)
    twin.train_epoch(X, y, 4, shuffle=False)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())


@pytest.mark.parametrize("where", ["X", "Y", "theta"])
def test_values_beyond_float32_range_are_a_clear_value_error(where):
    """Once numpy's 'overflow encountered in cast' RuntimeWarning, then a ValueError blaming NaN/inf."""
    net = fastmlp.Network((2, 2), output="identity", dtype="float32", seed=0)
    X = np.ones((1, 2))
    if where == "X":
        call = lambda: net.forward(np.array([[1e300, 0.0]]))  # noqa: E731
    elif where == "Y":
        call = lambda: net.loss(X, np.array([[1e300, 0.0]]))  # noqa: E731
    else:
        call = lambda: net.set_flat(np.full(net.n_parameters, 1e300))  # noqa: E731
    with pytest.raises(ValueError, match=rf"\b{where}\b.*(float32|range|large)"):
        call()


def test_incomparable_labels_error_names_y():
    """Once numpy's bare "'<' not supported between instances" from np.unique."""
    X = np.random.default_rng(0).uniform(0, 1, (4, 2))
    with pytest.raises(TypeError, match=r"\by\b"):
        fastmlp.SoftmaxRegression(max_epochs=1).fit(X, np.array([1, "a", 2, "b"], dtype=object))


UNALIGNED_CHILD = textwrap.dedent(r'''
    import numpy as np, fastmlp
    from fastmlp import _core
    from fastmlp._validation import as_float_array, as_targets

    def unaligned(values, dtype):
        values = np.asarray(values, dtype)
        buf = bytearray(values.nbytes + 1)
        arr = np.frombuffer(buf, dtype=dtype, count=values.size, offset=1).reshape(values.shape)
        arr[...] = values
        assert not arr.flags.aligned
        return arr

    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 1, (64, 40)), np.arange(64) % 10
    # The public path must hand the core aligned copies (a misaligned float*/int32* is undefined behaviour,
    # reported by UBSan, and faults on strict-alignment CPUs).
    assert as_float_array(unaligned(X, np.float32), np.float32).flags.aligned, "X reaches the core misaligned"
    assert as_targets(unaligned(y, np.int32), 64, 10, True, np.float32).flags.aligned, "labels reach it misaligned"
    net, twin = fastmlp.Network((40, 8, 10), seed=0), fastmlp.Network((40, 8, 10), seed=0)
    np.testing.assert_array_equal(net.forward(unaligned(X, np.float32)), twin.forward(X))
    net.train_epoch(unaligned(X, np.float32), unaligned(y, np.int32), 8)
    twin.train_epoch(X, y, 8)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())
    # The private kernels take arrays as they are: a misaligned one must be refused, not dereferenced.
    try:
        _core.sgd_update(unaligned(np.ones(100), np.float32), unaligned(np.ones(100), np.float32), 0.1)
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError("_core.sgd_update accepted misaligned arrays")
    print("ok")
''')


def test_misaligned_arrays_are_copied_or_refused():
    """Misaligned arrays (np.frombuffer(..., offset=1)) once reached the C++ core as misaligned pointers:
    undefined behaviour (UBSan: misaligned int32 load in Network::dense_targets)."""
    proc = run_child(UNALIGNED_CHILD, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-4000:]


HUGE_LAYER_CHILD = textwrap.dedent(r'''
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # an OOM here must be a MemoryError, not a kill
    import fastmlp
    try:
        fastmlp.Network((2**31, 1))
    except ValueError as exc:
        print("ValueError", exc)
    except BaseException as exc:  # noqa: BLE001
        print(type(exc).__name__, exc)
''')


@pytest.mark.skipif(bool(os.environ.get("FASTMLP_SANITIZER_RUN")), reason="RLIMIT_AS does not work under ASan")
def test_layer_size_beyond_int32_is_a_value_error():
    """Once allocated ~24 GB (the Glorot init) before the native constructor refused the size: OOM-killed."""
    proc = run_child(HUGE_LAYER_CHILD, timeout=120)
    first = proc.stdout.strip().split(" ", 1)[0] if proc.stdout.strip() else proc.stderr[-2000:]
    assert first == "ValueError" and "layer_sizes" in proc.stdout, proc.stdout + proc.stderr[-2000:]


@pytest.mark.parametrize("where", ["Y", "H"])
def test_ragged_nested_lists_error_names_the_argument(where):
    """Once numpy's bare 'setting an array element with a sequence' for Y and H."""
    ragged = [[1.0, 0.0], [1.0]]
    if where == "Y":
        call = lambda: fastmlp.Network((2, 2), seed=0).loss(np.ones((2, 2)), ragged)  # noqa: E731
    else:
        call = lambda: fastmlp.kl_sparsity(ragged, 0.1)  # noqa: E731
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert names(info.value, where), str(info.value)


# ----------------------------------------------------------------------------- a misbehaving gradient_hook
@pytest.mark.parametrize("behaviour", ["raises", "keyboard_interrupt", "reenters", "writes_nan", "keeps_the_view",
                                       "drops_the_last_reference", "not_callable", "sets_parameters"])
def test_misbehaving_gradient_hook(behaviour):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 1, (40, 5)), rng.integers(0, 3, 40)
    # float64: NaN through the float32 fast exp is undefined behaviour, tracked by its own test below
    holder = [fastmlp.Network((5, 4, 3), dtype="float64", seed=0)]
    net = holder[0]
    net.train_epoch(X, y, 8, optimizer="momentum")  # velocity and shuffle state exist
    twin = fastmlp.Network((5, 4, 3), dtype="float64", seed=0)
    twin.train_epoch(X, y, 8, optimizer="momentum")
    before = net.get_flat()
    kept = []

    def hook(grad):
        assert grad.shape == (net.n_parameters,) and grad.dtype == net.dtype
        if behaviour == "raises":
            raise ValueError("boom")
        if behaviour == "keyboard_interrupt":
            raise KeyboardInterrupt
        if behaviour == "reenters":
            net.forward(X)  # the network is busy in this very call
        if behaviour == "writes_nan":
            grad[:] = np.nan
        if behaviour == "keeps_the_view":
            kept.append(grad)
        if behaviour == "drops_the_last_reference":
            holder.clear()
        if behaviour == "sets_parameters":
            net.set_flat(before)

    expected = {"raises": ValueError, "keyboard_interrupt": KeyboardInterrupt, "reenters": RuntimeError,
                "writes_nan": FloatingPointError, "not_callable": TypeError}.get(behaviour)
    call = lambda: net.train_epoch(X, y, 8, optimizer="momentum",  # noqa: E731
                                   gradient_hook=3 if behaviour == "not_callable" else hook)
    if expected is not None:
        with pytest.raises(expected):
            call()
        # the epoch is undone: parameters, velocity and shuffle state as before, so the next epoch is the twin's
        np.testing.assert_array_equal(net.get_flat(), before)
        net.train_epoch(X, y, 8, optimizer="momentum")
        twin.train_epoch(X, y, 8, optimizer="momentum")
        np.testing.assert_array_equal(net.get_flat(), twin.get_flat())
        return
    loss = call()
    assert np.isfinite(loss) and np.isfinite(net.get_flat()).all()
    if behaviour == "keeps_the_view":
        del net, holder[:]
        import gc
        gc.collect()
        assert all(np.isfinite(view).all() for view in kept)  # the views keep the native buffer alive
        kept[-1][:] = 0.0  # and stay writable memory of a live object
    elif behaviour == "drops_the_last_reference":
        assert holder == []  # the call held its own reference: it finished normally


NAN_EXP_CHILD = textwrap.dedent(r"""
    import numpy as np, fastmlp
    from fastmlp import _core
    nan = np.full((2, 5), np.nan, np.float32)
    assert np.isnan(_core.activation_forward(nan, "sigmoid")).all()
    assert np.isnan(_core.softmax_forward(nan)).all()
    Z = np.array([[np.inf, 0, 0, 0, 0], [-np.inf, 0, 0, 0, 0]], np.float32)
    loss, _ = _core.softmax_cross_entropy_forward(Z, np.eye(5, dtype=np.float32)[:2])
    assert not np.isfinite(loss)
    net = fastmlp.Network((5, 4, 3), dtype="float32", seed=0)  # sigmoid hidden units, softmax output
    def poison(grad):
        grad[:] = np.nan
    try:
        net.train_epoch(np.ones((16, 5)), np.arange(16) % 3, 4, gradient_hook=poison)
    except FloatingPointError:
        pass
    else:
        raise AssertionError("NaN parameters did not make the epoch fail")
    assert np.isfinite(net.get_flat()).all()
    print("ok")
""")


def test_nan_and_inf_through_the_float32_fast_exp_are_defined_behaviour():
    """fast_exp(float) once converted NaN to int and shifted the negative result left (UBSan: 'left shift of
    negative value' in cpp/activations.h) whenever float32 training diverged or logits were NaN/inf. Under
    scripts/sanitize.sh this child runs instrumented."""
    proc = run_child(NAN_EXP_CHILD, timeout=120, known_sanitizer_finding=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-6000:]
    assert not any(sign in proc.stderr for sign in SANITIZER_SIGNS), proc.stderr[-6000:]
