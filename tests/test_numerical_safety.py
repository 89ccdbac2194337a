"""Numerical safety: extreme logits, saturated sigmoids, the KL clamp, constant inputs and diverging
learning rates. No NaN leaks out silently: every result is finite and correct, or a clear error is raised
and the model is left as it was before the failing step (epoch)."""
import re

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, reference as ref

DTYPES = ["float32", "float64"]
KL_EPS = 1e-6


def tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-5)


def logsumexp(z):
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def one_layer(n_in, n_out, output, dtype, W, b, loss=None):
    net = fastmlp.Network((n_in, n_out), output=output, loss=loss, dtype=dtype, seed=0)
    net.set_parameters([W], [b])
    return net


EXTREME_LOGITS = np.array([[1e4, -1e4, 0.0],
                           [-1e4, -1e4, -1e4],
                           [1e4, 1e4 - 1.0, -1e4],
                           [-1e4, 1e4, 1e4],
                           [0.0, 0.0, 0.0]])


# ----------------------------------------------------------------------------- softmax cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_with_extreme_logits(dtype):
    # identity weights: the logits are the inputs
    net = one_layer(3, 3, "softmax", dtype, np.eye(3), np.zeros(3))
    Z = EXTREME_LOGITS
    for labels in ([0, 0, 0, 0, 0], [1, 2, 1, 0, 2], [2, 1, 2, 1, 1]):
        labels = np.array(labels)
        want = float(np.mean(logsumexp(Z) - Z[np.arange(5), labels]))  # up to ~2e4: a wrong class at 1e4 apart
        loss, gw, gb = net.loss_and_grad(Z, labels)
        assert np.isfinite(loss)
        np.testing.assert_allclose(loss, want, rtol=1e-6)
        onehot = np.eye(3)[labels]
        delta = (softmax(Z) - onehot) / 5
        assert np.isfinite(gw[0]).all() and np.isfinite(gb[0]).all()
        np.testing.assert_allclose(gb[0], delta.sum(0), atol=1e-6)
        np.testing.assert_allclose(gw[0], delta.T @ Z, rtol=1e-5, atol=1e-2)  # entries up to ~1e4
        probs = net.forward(Z)
        assert np.isfinite(probs).all() and (probs >= 0).all()
        np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-6)
        np.testing.assert_allclose(probs, softmax(Z), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_kernels_with_extreme_logits(dtype):
    Z = EXTREME_LOGITS.astype(dtype)
    Y = np.eye(3, dtype=dtype)[[1, 2, 1, 0, 2]]
    loss, probs = _core.softmax_cross_entropy_forward(Z, Y)
    want_loss, want_probs = ref.softmax_cross_entropy_forward(Z.astype(np.float64), Y.astype(np.float64))
    assert np.isfinite(loss) and np.isfinite(probs).all()
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    np.testing.assert_allclose(probs, want_probs, atol=1e-6)
    np.testing.assert_allclose(_core.softmax_forward(Z), want_probs, atol=1e-6)
    delta, delta_sums = _core.output_error_backward(probs, Y)
    assert np.isfinite(delta).all() and np.isfinite(delta_sums).all()


# ----------------------------------------------------------------------------- sigmoid cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_binary_cross_entropy_with_extreme_logits(dtype):
    net = one_layer(3, 3, "sigmoid", dtype, np.eye(3), np.zeros(3))
    Z = EXTREME_LOGITS
    for Y in (np.zeros_like(Z), np.ones_like(Z), (Z > 0).astype(float), (Z < 0).astype(float),
              np.full_like(Z, 0.5)):
        softplus = np.maximum(Z, 0) + np.log1p(np.exp(-np.abs(Z)))  # log(1 + e^z), stable
        want = float((softplus - Z * Y).sum() / Z.shape[0])
        loss, gw, gb = net.loss_and_grad(Z, Y)
        assert np.isfinite(loss)
        np.testing.assert_allclose(loss, want, rtol=1e-6)
        sig = 0.5 * (1 + np.tanh(Z / 2))
        delta = (sig - Y) / Z.shape[0]
        assert np.isfinite(gw[0]).all() and np.isfinite(gb[0]).all()
        np.testing.assert_allclose(gb[0], delta.sum(0), atol=1e-6)
        np.testing.assert_allclose(gw[0], delta.T @ Z, rtol=1e-5, atol=1e-2)
        out = net.forward(Z)
        assert np.isfinite(out).all() and (out >= 0).all() and (out <= 1).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_tanh_kernels_saturate_without_nan(dtype):
    Z = np.array([[-1e4, -1e3, -100.0, -40.0, 0.0, 40.0, 100.0, 1e3, 1e4]], dtype)
    for act in ("sigmoid", "tanh"):
        A = _core.activation_forward(Z, act)
        assert np.isfinite(A).all(), act
        Z64 = Z.astype(np.float64)
        want = 0.5 * (1 + np.tanh(Z64 / 2)) if act == "sigmoid" else np.tanh(Z64)
        np.testing.assert_allclose(A, want, atol=1e-7)
        dZ = _core.activation_backward(np.ones_like(Z), A, act)
        assert np.isfinite(dZ).all(), act
    loss, probs = _core.sigmoid_binary_cross_entropy_forward(Z, np.ones_like(Z))
    assert np.isfinite(loss) and np.isfinite(probs).all()
    Z64 = Z.astype(np.float64)
    want = (np.maximum(Z64, 0) - Z64 + np.log1p(np.exp(-np.abs(Z64)))).sum()
    np.testing.assert_allclose(loss, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_saturated_hidden_units_give_finite_zero_gradients(dtype, activation):
    # hidden pre-activations of ±1e4: the units sit at their limits and pass no gradient back
    net = fastmlp.Network((2, 3, 2), hidden_activation=activation, dtype=dtype, seed=0)
    net.set_parameters([np.array([[1e4, 0], [-1e4, 0], [0, 1e4]]), np.ones((2, 3))], [np.zeros(3), np.zeros(2)])
    X = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 3.0]])
    y = np.array([0, 1, 1])
    loss, gw, gb = net.loss_and_grad(X, y)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in gw + gb)
    # σ'(±1e4) = A(1−A) and tanh'(±1e4) = 1 − A² vanish (to float precision: A may be FLT_MIN, not 0)
    np.testing.assert_allclose(gw[0], 0, atol=1e-30)
    np.testing.assert_allclose(gb[0], 0, atol=1e-30)
    twin = ref.Network((2, 3, 2), hidden_activation=activation, dtype="float64", seed=0)
    twin.set_flat(net.get_flat().astype(np.float64))
    with np.errstate(over="ignore"):  # the plain NumPy reference's 1/(1 + e^−z) overflows to its limit: fine
        want_loss, want_grad = twin.loss_and_grad(X, y)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
    np.testing.assert_allclose(np.concatenate([g.ravel() for g in gw + gb]), want_grad, atol=1e-6)
    before = net.get_flat()
    assert np.isfinite(net.train_epoch(X, y, 2, learning_rate=0.5))
    assert np.isfinite(net.get_flat()).all()
    np.testing.assert_array_equal(net.weights[0], before[:6].reshape(3, 2))  # no gradient reached them


# ----------------------------------------------------------------------------- KL sparsity at 0 and 1
def kl(target, a_hat):
    a_hat = np.clip(a_hat, KL_EPS, 1 - KL_EPS)
    return target * np.log(target / a_hat) + (1 - target) * np.log((1 - target) / (1 - a_hat))


@pytest.mark.parametrize("value", [0.0, 1.0])
@pytest.mark.parametrize("target", [0.01, 0.2, 0.99])
def test_kl_sparsity_at_exactly_zero_or_one_is_finite(value, target):
    H = np.full((5, 4), value)
    got = fastmlp.kl_sparsity(H, target)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, 4 * kl(target, value), rtol=1e-10)
    for dtype in (np.float32, np.float64):
        Hd = H.astype(dtype)
        penalty = _core.sparse_kl_penalty_forward(Hd, target, 3.0)
        grad = _core.sparse_kl_penalty_backward(Hd, target, 3.0)
        assert np.isfinite(penalty) and np.isfinite(grad).all()
        # float32 clamps at float32(1 − 1e-6) = 1 − 1.013e-6: log(1 − α̂) is ~1% off there, by design
        np.testing.assert_allclose(penalty, 3 * 4 * kl(target, value), rtol=1e-10 if dtype == np.float64 else 2e-2)
        a_hat = np.clip(value, KL_EPS, 1 - KL_EPS)
        want = 3 * (-target / a_hat + (1 - target) / (1 - a_hat)) / 5
        np.testing.assert_allclose(grad, np.full(4, want), rtol=1e-10 if dtype == np.float64 else 2e-2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [-1e4, 1e4])
def test_sparse_autoencoder_with_dead_or_saturated_hidden_units(dtype, bias):
    # every hidden unit at exactly 0 (bias −1e4) or 1 (bias +1e4): α̂ hits the clamp, penalty and gradient stay finite
    net = fastmlp.Network((4, 3, 4), output="sigmoid", loss="squared_error", sparsity_target=0.1,
                          sparsity_weight=3.0, dtype=dtype, seed=0)
    weights = [w.copy() for w in net.weights]
    net.set_parameters(weights, [np.full(3, bias), np.zeros(4)])
    X = np.random.default_rng(0).uniform(0, 1, (6, 4))
    H = net.hidden(X)
    np.testing.assert_allclose(H, 0.0 if bias < 0 else 1.0, atol=1e-30)  # dead (≤ FLT_MIN) or saturated
    loss, gw, gb = net.loss_and_grad(X, X)
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in gw + gb)
    twin = ref.Network((4, 3, 4), output="sigmoid", loss="squared_error", sparsity_target=0.1, sparsity_weight=3.0,
                       dtype="float64", seed=0)
    twin.set_flat(net.get_flat().astype(np.float64))
    with np.errstate(over="ignore"):
        want_loss, want_grad = twin.loss_and_grad(X, X)
    # float32 clamps α̂ at float32(1 − 1e-6), 1.3% away from 1e-6 below 1: that much looser there
    close = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(loss, want_loss, **close)
    np.testing.assert_allclose(np.concatenate([g.ravel() for g in gw + gb]), want_grad, **close)
    penalty = 3.0 * 3 * kl(0.1, 0.0 if bias < 0 else 1.0)
    assert loss >= penalty * (1 - 1e-5)
    for _ in range(3):
        assert np.isfinite(net.train_epoch(X, X, 3, learning_rate=0.01))
    assert np.isfinite(net.get_flat()).all()


# ----------------------------------------------------------------------------- constant inputs
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("constant", [0.0, 1.0, 1e3])
def test_zero_variance_inputs(dtype, constant):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 5))
    X[:, [1, 3]] = constant  # constant columns
    y = rng.integers(0, 3, 40)
    net = fastmlp.Network((5, 4, 3), dtype=dtype, seed=0)
    for optimizer in ("sgd", "momentum", "adam"):
        assert np.isfinite(net.train_epoch(X, y, 8, optimizer=optimizer, learning_rate=0.01))
    assert np.isfinite(net.get_flat()).all()
    same_rows = np.full((10, 5), constant)  # every row identical: zero variance everywhere
    loss, gw, gb = net.loss_and_grad(same_rows, np.zeros(10, int))
    assert np.isfinite(loss) and all(np.isfinite(g).all() for g in gw + gb)
    clf = fastmlp.MLPClassifier((4,), max_epochs=3, random_state=0, dtype=dtype).fit(X, y)
    assert np.isfinite(clf.predict_proba(X)).all()
    assert np.isfinite(clf.loss_curve_).all()
    ae = fastmlp.Autoencoder(n_hidden=3, max_epochs=3, random_state=0, dtype=dtype,
                             output_activation="identity").fit(np.clip(same_rows, 0, 1))
    assert np.isfinite(ae.transform(X)).all() and np.isfinite(ae.loss_curve_).all()


# ----------------------------------------------------------------------------- divergence
def diverging_setup(dtype):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (64, 6)) * 100
    Y = rng.uniform(-1, 1, (64, 2)) * 100
    net = fastmlp.Network((6, 8, 2), hidden_activation="relu", output="identity", dtype=dtype, seed=0)
    return net, X, Y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_diverging_learning_rate_raises_and_restores_the_epoch(dtype, optimizer):
    net, X, Y = diverging_setup(dtype)
    twin, _, _ = diverging_setup(dtype)
    # a sane epoch first, so optimizer state (velocity) and the shuffle state have moved on
    for model in (net, twin):
        model.train_epoch(X, Y, 8, optimizer=optimizer, learning_rate=1e-6)
    before = net.get_flat()
    with pytest.raises(FloatingPointError) as info:
        net.train_epoch(X, Y, 8, optimizer=optimizer, learning_rate=1e6)
    message = str(info.value)
    assert re.search(r"mini-batch \d+", message), message
    assert "restored" in message and "learning_rate" in message
    np.testing.assert_array_equal(net.get_flat(), before)
    # velocity, Adam moments and the shuffle state are restored too: the next epoch equals the twin's
    net.train_epoch(X, Y, 8, optimizer=optimizer, learning_rate=1e-6)
    twin.train_epoch(X, Y, 8, optimizer=optimizer, learning_rate=1e-6)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())


def test_divergence_in_adam_is_caught_too():
    # Adam's steps are bounded by the learning rate, so it needs a huge one to overflow float32
    net, X, Y = diverging_setup("float32")
    before = net.get_flat()
    with pytest.raises(FloatingPointError, match=r"mini-batch \d+"):
        for _ in range(5):
            net.train_epoch(X, Y, 8, optimizer="adam", learning_rate=1e37)
            before = net.get_flat()
    np.testing.assert_array_equal(net.get_flat(), before)
    assert np.isfinite(net.get_flat()).all()


@pytest.mark.parametrize("kind", ["mlp", "autoencoder"])
def test_estimator_divergence_names_the_epoch_and_keeps_the_last_good_parameters(kind):
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (64, 6)) * 50
    y = rng.integers(0, 3, 64)

    def make(max_epochs):  # settings that diverge after a few good epochs (epoch 3 and 4 here)
        common = dict(solver="momentum", max_epochs=max_epochs, batch_size=16, random_state=0, n_iter_no_change=1000)
        if kind == "mlp":
            return fastmlp.MLPClassifier((8,), activation="identity", learning_rate=1.0, **common)
        return fastmlp.Autoencoder(n_hidden=4, activation="relu", output_activation="identity", sparsity_weight=0.0,
                                   learning_rate=10.0, **common)

    def fit(est):
        return est.fit(X, y) if kind == "mlp" else est.fit(X)

    est = make(50)
    with pytest.raises(fastmlp.TrainingDivergedError) as info:
        fit(est)
    assert isinstance(info.value, FloatingPointError)
    match = re.search(r"epoch (\d+)", str(info.value))
    assert match, str(info.value)
    failed_epoch = int(match.group(1))
    assert est.n_iter_ == failed_epoch - 1
    assert len(est.loss_curve_) == est.n_iter_ and np.isfinite(est.loss_curve_).all()
    params = est.network_.get_flat()
    assert np.isfinite(params).all()
    assert est.n_iter_ >= 1
    good = fit(make(est.n_iter_))  # exactly the model of the last finished epoch (same seed, same thread count)
    np.testing.assert_array_equal(params, good.network_.get_flat())
    out = est.predict_proba(X) if kind == "mlp" else est.transform(X)
    assert np.isfinite(out).all()


# ----------------------------------------------------------------------------- L-BFGS divergence
def test_lbfgs_with_an_infinite_loss_raises_training_diverged():
    X = np.random.default_rng(0).uniform(0, 1, (20, 4)) * 1e25  # finite in float32, but ‖x̂ − x‖² overflows
    ae = fastmlp.Autoencoder(n_hidden=3, output_activation="identity", sparsity_weight=0.0, solver="lbfgs",
                             max_epochs=5, random_state=0, dtype="float32")
    with pytest.raises(fastmlp.TrainingDivergedError):
        ae.fit(X)


def test_lbfgs_stepping_into_overflow_raises_training_diverged():
    X = np.random.default_rng(0).uniform(0, 1, (20, 4)) * 1e200
    ae = fastmlp.Autoencoder(n_hidden=3, output_activation="identity", sparsity_weight=0.0, solver="lbfgs",
                             max_epochs=5, random_state=0, dtype="float64")
    with pytest.raises(fastmlp.TrainingDivergedError, match=r"(epoch|iteration)"):
        ae.fit(X)


# ----------------------------------------------------------------------------- overflow outside training
@pytest.mark.parametrize("call", ["forward", "loss", "predict"])
def test_overflowing_inputs_give_a_clear_error_not_nan(call):
    """Finite inputs whose logits overflow once gave NaN probabilities / a NaN loss silently (and predict
    classes_[0])."""
    net = fastmlp.Network((4, 3), dtype="float32", seed=0)
    net.set_parameters([np.array([[1.0, 1, 1, 1], [1, 1, 1, 1], [-1, 0, 0, 0]])], [np.zeros(3)])
    X = np.full((1, 4), 3e38)  # logits inf, inf, −3e38
    with pytest.raises(FloatingPointError):
        if call == "forward":
            result = net.forward(X)
        elif call == "loss":
            result = net.loss(X, [0])
        else:
            clf = fastmlp.SoftmaxRegression(max_epochs=1, random_state=0)
            clf.fit(np.random.default_rng(0).uniform(0, 1, (9, 4)), np.arange(9) % 3)
            clf.network_.set_flat(net.get_flat())
            result = clf.predict_proba(X)
        assert np.isfinite(result).all(), f"{call} returned {result}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_parameters_are_named_as_the_cause(dtype):
    """NaN set into the parameters is not an overflow of the inputs, nor a learning rate too large."""
    net = fastmlp.Network([3, 4, 2], seed=0, dtype=dtype)
    X, y = np.ones((6, 3), dtype), np.array([0, 1, 0, 1, 0, 1])
    net.weights[0][0, 0] = np.nan
    for call in (lambda: net.forward(X), lambda: net.loss(X, y), lambda: net.train_epoch(X, y, 2)):
        with pytest.raises(FloatingPointError, match="parameters contain NaN or inf") as info:
            call()
        assert "learning_rate" not in str(info.value)
    with pytest.raises(_core.DivergenceError):  # still the core's exception type, with the better message
        net.train_epoch(X, y, 2)
