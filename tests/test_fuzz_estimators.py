"""Hostile inputs at the estimators: fit, partial_fit, predict, predict_proba, transform,
inverse_transform, and bad hyperparameters (issue 7).

Every call must either work and agree with the NumPy reference (``fastmlp.reference``) on the inputs as
converted, or raise TypeError/ValueError whose message names the offending argument; fitting on a hostile
layout must give bit-identical parameters to fitting on a clean copy. The input builders and oracles are
in fuzz_helpers.py.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastmlp
from fastmlp import reference as ref

from fuzz_helpers import (NUMERIC_DTYPES, SETTINGS, as_net_dtype, draw_array, expected_X_error, names, relayout,
                          tolerance, twin_of)


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
