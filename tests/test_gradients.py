"""Central finite differences in float64 against the analytic gradients, native and reference, for every
activation and loss, with and without sparsity, weight decay and tied weights, for 1, 2 and 3 hidden layers.
Each penalty term is also checked on its own."""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core, reference as ref

H_STEP = 1e-6


def numeric_grad(f, theta):
    g = np.zeros_like(theta)
    for i in range(theta.size):
        old = theta[i]
        theta[i] = old + H_STEP
        up = f(theta)
        theta[i] = old - H_STEP
        down = f(theta)
        theta[i] = old
        g[i] = (up - down) / (2 * H_STEP)
    return g


def assert_grad_close(analytic, numeric):
    scale = max(np.abs(numeric).max(), 1e-3)
    assert np.abs(analytic - numeric).max() / scale < 1e-6, (analytic, numeric)


def data(rng, n, sizes, output, loss):
    X = rng.uniform(0.05, 0.95, (n, sizes[0]))
    k = sizes[-1]
    if output == "softmax" and loss != "squared_error":
        return X, rng.integers(0, k, n)
    if output in ("sigmoid", "softmax"):
        return X, rng.uniform(0.05, 0.95, (n, k))
    return X, rng.standard_normal((n, k))


NETS = [  # (layer_sizes, hidden, output, loss, extra kwargs)
    ((4, 3), "sigmoid", "softmax", None, {}),
    ((5, 4, 3), "sigmoid", "softmax", None, {}),
    ((5, 4, 3), "tanh", "softmax", None, {}),
    ((5, 4, 3), "relu", "softmax", None, {}),
    ((5, 4, 3), "identity", "softmax", None, {}),
    ((5, 4, 3, 2), "sigmoid", "sigmoid", None, {}),
    ((5, 4, 3, 4, 2), "tanh", "identity", None, {}),
    ((4, 3, 2), "sigmoid", "tanh", None, {}),
    ((4, 3, 2), "tanh", "relu", None, {}),
    ((4, 3, 2), "sigmoid", "sigmoid", "squared_error", {}),
    ((4, 3, 3), "sigmoid", "softmax", "squared_error", {}),
    ((6, 4, 6), "sigmoid", "sigmoid", "squared_error", dict(sparsity_target=0.2, sparsity_weight=0.1)),
    ((6, 4, 6), "sigmoid", "sigmoid", None, dict(sparsity_target=0.05, sparsity_weight=3.0, weight_decay=0.01)),
    ((6, 4, 6), "sigmoid", "sigmoid", "squared_error",
     dict(sparsity_target=0.2, sparsity_weight=0.5, weight_decay=0.1, tied_weights=True)),
    ((6, 4, 6), "tanh", "identity", None, dict(tied_weights=True)),
    ((5, 4, 3, 2), "sigmoid", "softmax", None, dict(sparsity_target=0.3, sparsity_weight=0.2, weight_decay=0.05)),
    ((5, 4, 4, 3, 2), "relu", "softmax", None, dict(weight_decay=0.1)),
]


@pytest.mark.parametrize("impl", ["native", "reference"])
@pytest.mark.parametrize("sizes,hidden,output,loss,extra", NETS)
def test_network_gradient_matches_finite_differences(impl, sizes, hidden, output, loss, extra):
    rng = np.random.default_rng(0)
    cls = fastmlp.Network if impl == "native" else ref.Network
    net = cls(sizes, hidden_activation=hidden, output=output, loss=loss, dtype="float64", seed=1, **extra)
    # non-zero biases so relu kinks and symmetric points are not hit by accident
    theta = net.get_flat() + rng.normal(0, 0.1, net.get_flat().shape)
    X, Y = data(rng, 7, sizes, output, loss or net.loss_name)
    net.set_flat(theta)
    _, analytic = (net.loss_and_grad_flat(theta, X, Y) if impl == "native"
                   else net.loss_and_grad(X, Y))

    def f(t):
        net.set_flat(t)
        return net.loss(X, Y)

    assert_grad_close(analytic, numeric_grad(f, theta.copy()))


@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("impl", [_core, ref])
def test_activation_derivative_matches_finite_differences(act, impl):
    Z = np.random.default_rng(1).uniform(-3, 3, (4, 5))
    Z[np.abs(Z) < 0.01] = 0.5  # stay off relu's kink
    A = impl.activation_forward(Z, act)
    dA = np.random.default_rng(2).standard_normal(Z.shape)
    analytic = impl.activation_backward(dA, A, act)
    numeric = (np.sum(dA * impl.activation_forward(Z + H_STEP, act))
               - np.sum(dA * impl.activation_forward(Z - H_STEP, act)))
    # element-wise: perturb each entry alone
    g = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += H_STEP
        Zm[idx] -= H_STEP
        g[idx] = (np.sum(dA * impl.activation_forward(Zp, act)) - np.sum(dA * impl.activation_forward(Zm, act))) \
            / (2 * H_STEP)
    assert np.isfinite(numeric)
    assert_grad_close(analytic, g)


@pytest.mark.parametrize("impl", [_core, ref])
def test_sparse_kl_penalty_gradient_on_its_own(impl):
    H = np.random.default_rng(3).uniform(0.05, 0.95, (6, 4))
    per_unit = impl.sparse_kl_penalty_backward(H, 0.2, 0.7)
    analytic = np.broadcast_to(per_unit, H.shape)
    numeric = numeric_grad(lambda h: impl.sparse_kl_penalty_forward(h.reshape(H.shape), 0.2, 0.7),
                           H.reshape(-1).copy()).reshape(H.shape)
    assert_grad_close(analytic, numeric)


@pytest.mark.parametrize("impl", [_core, ref])
def test_weight_decay_gradient_on_its_own(impl):
    W = np.random.default_rng(4).standard_normal((3, 5))
    numeric = numeric_grad(lambda w: impl.weight_decay_forward(w.reshape(W.shape), 0.3), W.reshape(-1).copy())
    assert_grad_close(impl.weight_decay_backward(W, 0.3).reshape(-1), numeric)


@pytest.mark.parametrize("impl", [_core, ref])
def test_softmax_backward_is_the_jacobian_vector_product(impl):
    rng = np.random.default_rng(5)
    Z, dY = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    numeric = numeric_grad(lambda z: float(np.sum(dY * impl.softmax_forward(z.reshape(Z.shape)))),
                           Z.reshape(-1).copy()).reshape(Z.shape)
    assert_grad_close(impl.softmax_backward(dY, impl.softmax_forward(Z)), numeric)


@pytest.mark.parametrize("impl", [_core, ref])
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "sigmoid_binary_cross_entropy"])
def test_fused_output_error_is_the_loss_gradient(impl, loss):
    rng = np.random.default_rng(6)
    Z = rng.standard_normal((5, 3))
    Y = np.eye(3)[rng.integers(0, 3, 5)] if loss.startswith("softmax") else rng.uniform(size=(5, 3))
    forward = getattr(impl, loss + "_forward")
    numeric = numeric_grad(lambda z: float(forward(z.reshape(Z.shape), Y)[0]), Z.reshape(-1).copy())
    assert_grad_close(impl.output_error_backward(forward(Z, Y)[1], Y)[0].reshape(-1), numeric)


@pytest.mark.parametrize("impl", [_core, ref])
@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh", "relu"])
def test_fused_squared_error_output_error_is_the_loss_gradient(impl, act):
    # ∂/∂Z of (1/n) Σ_t ½‖act(Z_t + b) − Y_t‖², Z + b away from relu's kink
    rng = np.random.default_rng(9)
    Z, b = rng.standard_normal((5, 3)), rng.standard_normal(3) * 0.1
    Z[np.abs(Z + b) < 0.1] = 0.5
    Y = rng.uniform(size=(5, 3))
    numeric = numeric_grad(lambda z: float(impl.squared_error_forward(impl.activation_forward(z.reshape(Z.shape) + b,
                                                                                             act), Y)),
                           Z.reshape(-1).copy())
    analytic = impl.squared_error_forward_backward(Z, b, Y, act)[1]
    assert_grad_close(analytic.reshape(-1), numeric)
