"""Hostile inputs at ``fastmlp.Network`` (forward, hidden, loss, loss_and_grad, loss_and_grad_flat,
train_epoch, set_flat, set_parameters) and ``fastmlp.kl_sparsity`` (issue 7).

Hypothesis throws shapes, dtypes, memory layouts, NaN/inf and bad labels at them. Every call must either
work and agree with the NumPy reference (``fastmlp.reference``) on the inputs as converted, or raise
TypeError/ValueError whose message names the offending argument; a failed call leaves the parameters
untouched. The input builders and oracles are in fuzz_helpers.py.
"""
import numpy as np
from hypothesis import given, settings, strategies as st

import fastmlp
from fastmlp import reference as ref

from fuzz_helpers import (LAYOUTS, SETTINGS, as_net_dtype, cast, core_finds_non_finite, draw_array, draw_X, draw_Y,
                          expect_failure, expected_X_error, expected_Y_error, networks, relayout, tolerance, twin_of)


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
    if core_finds_non_finite(X, net):  # then X's NaN/inf is found last, by the native call
        n_rows = X.shape[0]
    y_error, Y_valid = expected_Y_error(Y, n_rows, net.layer_sizes[-1], softmax)
    if y_error and core_finds_non_finite(X, net):
        x_error = None  # Y's error comes first
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
        lr_ok = isinstance(learning_rate, float) and np.isfinite(learning_rate) and learning_rate > 0
        if core_finds_non_finite(X, net) and not (batch_ok and optimizer in ("sgd", "momentum", "adam") and lr_ok):
            x_error = None  # the other arguments' errors come first
        if x_error or y_error:
            expect_failure(call, x_error or y_error, "X" if x_error else "Y")
        elif not batch_ok:
            expect_failure(call, ValueError, "batch_size")
        elif optimizer not in ("sgd", "momentum", "adam"):
            expect_failure(call, ValueError, "optimizer")
        elif not lr_ok:
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
