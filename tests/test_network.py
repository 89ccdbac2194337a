"""The native Network against reference.Network, training behaviour, determinism and bad inputs."""
import pickle

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, reference as ref
from fastmlp._params import ParameterLayout

CONFIGS = [
    dict(layer_sizes=(1, 1)),
    dict(layer_sizes=(7, 1, 3)),
    dict(layer_sizes=(9, 6, 4), hidden_activation="tanh"),
    dict(layer_sizes=(9, 8, 7, 5), hidden_activation="relu"),
    dict(layer_sizes=(9, 8, 7, 6, 5), weight_decay=0.01),
    dict(layer_sizes=(10, 6, 10), output="sigmoid", loss="squared_error", sparsity_target=0.2, sparsity_weight=0.1),
    dict(layer_sizes=(10, 6, 10), output="sigmoid", sparsity_target=0.05, sparsity_weight=3.0, weight_decay=1e-3,
         tied_weights=True),
    dict(layer_sizes=(5, 4, 2), output="identity"),
]


def targets(rng, net, n):
    k = net.layer_sizes[-1]
    if net.output == "softmax":
        return rng.integers(0, k, n)
    return rng.uniform(0, 1, (n, k))


def tolerances(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("n", [1, 13])
def test_loss_and_grad_match_reference(dtype, config, n):
    rng = np.random.default_rng(0)
    net, twin = fastmlp.Network(**config, dtype=dtype, seed=3), ref.Network(**config, dtype="float64", seed=3)
    np.testing.assert_array_equal(net.get_flat(), ref.Network(**config, dtype=dtype, seed=3).get_flat())
    X = rng.uniform(0, 1, (n, net.layer_sizes[0])).astype(dtype)
    Y = targets(rng, net, n)
    twin.set_flat(net.get_flat().astype(np.float64))
    loss, gw, gb = net.loss_and_grad(X, Y)
    want_loss, want_grad = twin.loss_and_grad(X.astype(np.float64), Y)
    tol = tolerances(dtype)
    np.testing.assert_allclose(loss, want_loss, **tol)
    np.testing.assert_allclose(np.concatenate([g.ravel() for g in gw + gb]), want_grad, **tol)
    np.testing.assert_allclose(net.forward(X), twin.forward(X.astype(np.float64)), **tol)


def test_layout_agrees_with_the_native_size_table():
    for config in CONFIGS:
        net = fastmlp.Network(**config)
        native = net._net.layout
        layout = ParameterLayout(config["layer_sizes"], config.get("tied_weights", False))
        assert native["weight_offsets"] == layout.weight_offsets
        assert native["bias_offsets"] == layout.bias_offsets
        assert native["size"] == layout.size == net.n_parameters


# CONFIGS[2] and TIED_SPARSE take plain SGD's fused path (the update inside backward's GEMMs); CONFIGS[6] has
# weight decay, which keeps the gradient buffer
TIED_SPARSE = dict(layer_sizes=(10, 6, 10), output="sigmoid", loss="squared_error", tied_weights=True,
                   sparsity_target=0.1, sparsity_weight=0.5)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer,kwargs", [("sgd", {}), ("momentum", {}), ("momentum", dict(nesterov=True)),
                                              ("adam", dict(learning_rate=0.01))])
@pytest.mark.parametrize("config", [CONFIGS[2], CONFIGS[6], TIED_SPARSE, CONFIGS[4]])
def test_train_epoch_matches_reference(dtype, optimizer, kwargs, config):
    rng = np.random.default_rng(1)
    net, twin = fastmlp.Network(**config, dtype=dtype, seed=5), ref.Network(**config, dtype="float64", seed=5)
    X = rng.uniform(0, 1, (50, net.layer_sizes[0])).astype(dtype)
    Y = targets(rng, net, 50)
    for _ in range(3):  # optimizer state and the shuffle state carry over between calls
        got = net.train_epoch(X, Y, 8, optimizer=optimizer, **kwargs)
        want = twin.train_epoch(X.astype(np.float64), Y, 8, optimizer=optimizer, **kwargs)
        np.testing.assert_allclose(got, want, **tolerances(dtype))
    np.testing.assert_allclose(net.get_flat(), twin.get_flat(), rtol=1e-9 if dtype == "float64" else 1e-4,
                               atol=1e-10 if dtype == "float64" else 1e-5)


def test_momentum_state_persists_across_calls():
    rng = np.random.default_rng(2)
    X, y = rng.uniform(size=(40, 5)), rng.integers(0, 3, 40)
    one = fastmlp.Network((5, 4, 3), seed=0)
    for _ in range(2):
        one.train_epoch(X, y, 40, optimizer="momentum", shuffle=False)
    fresh = fastmlp.Network((5, 4, 3), seed=0)
    fresh.train_epoch(X, y, 40, optimizer="momentum", shuffle=False)
    restarted = fastmlp.Network((5, 4, 3), seed=0)
    restarted.set_flat(fresh.get_flat())
    restarted.train_epoch(X, y, 40, optimizer="momentum", shuffle=False)  # velocity starts at zero again
    assert not np.allclose(one.get_flat(), restarted.get_flat())


def test_xor_is_learned_to_zero_errors():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0])
    net = fastmlp.Network((2, 2, 2), seed=0)
    for _ in range(3000):
        net.train_epoch(X, y, 4, optimizer="momentum", learning_rate=0.5)
    assert (net.forward(X).argmax(axis=1) == y).all()


def test_same_seed_gives_identical_bytes():
    rng = np.random.default_rng(3)
    X, y = rng.uniform(size=(300, 20)).astype(np.float32), rng.integers(0, 4, 300)
    runs = []
    for _ in range(2):
        net = fastmlp.Network((20, 16, 4), seed=42)
        for _ in range(3):
            net.train_epoch(X, y, 32, optimizer="adam", learning_rate=0.01)
        runs.append(net.get_flat().tobytes())
    assert runs[0] == runs[1]
    other = fastmlp.Network((20, 16, 4), seed=43)
    assert other.get_flat().tobytes() != fastmlp.Network((20, 16, 4), seed=42).get_flat().tobytes()


def test_weights_are_live_views():
    net = fastmlp.Network((3, 2, 2), seed=0)
    for w in net.weights:
        w[:] = 0
    net.biases[1][:] = 1
    assert not net.get_flat()[:10].any()
    np.testing.assert_array_equal(net.forward(np.ones((1, 3))), [[0.5, 0.5]])


def test_set_parameters_copies_with_checks():
    net = fastmlp.Network((3, 2, 2), seed=0)
    net.set_parameters([np.ones((2, 3)), np.ones((2, 2))], [np.zeros(2), np.zeros(2)])
    assert (net.weights[0] == 1).all()
    with pytest.raises(ValueError, match=r"weights\[1\] must have shape"):
        net.set_parameters([np.ones((2, 3)), np.ones((3, 2))], [np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match="NaN"):
        net.set_parameters([np.full((2, 3), np.nan), np.ones((2, 2))], [np.zeros(2), np.zeros(2)])


def test_tied_weights_share_one_matrix():
    net = fastmlp.Network((6, 3, 6), output="sigmoid", tied_weights=True, seed=0)
    assert [w.shape for w in net.weights] == [(3, 6)]
    assert [b.shape for b in net.biases] == [(3,), (6,)]
    X = np.random.default_rng(0).uniform(size=(4, 6))
    H = net.hidden(X)
    out = 1 / (1 + np.exp(-(H @ net.weights[0] + net.biases[1])))
    np.testing.assert_allclose(net.forward(X), out, rtol=1e-5)


def test_flat_interface_for_lbfgs():
    net = fastmlp.Network((4, 3, 2), dtype="float64", seed=0)
    X, y = np.random.default_rng(0).uniform(size=(10, 4)), np.arange(10) % 2
    theta = net.get_flat()
    loss, grad = net.loss_and_grad_flat(theta * 2, X, y)
    np.testing.assert_array_equal(net.get_flat(), theta * 2)
    assert grad.shape == theta.shape and loss == net.loss(X, y)


def test_kl_sparsity_worked_example():
    assert fastmlp.kl_sparsity([1, 0, 1, 0, 0, 0, 0, 0, 0, 0], 0.2) == pytest.approx(0, abs=1e-12)
    assert fastmlp.kl_sparsity([0.8, 1, 0.9, 1, 0.2, 0, 0.1, 0, 0, 0], 0.2) == pytest.approx(0.092, abs=5e-4)
    H = np.random.default_rng(0).uniform(size=(20, 5))
    assert fastmlp.kl_sparsity(H, 0.1) == pytest.approx(ref.kl_sparsity(H, 0.1), rel=1e-12)


def test_loss_decreases_on_real_data(mnist_small):
    X, y = mnist_small
    net = fastmlp.Network((784, 64, 10), seed=0)
    first = net.train_epoch(X, y, 64, learning_rate=0.5)
    for _ in range(3):
        last = net.train_epoch(X, y, 64, learning_rate=0.5)
    assert last < 0.7 * first
    assert (net.forward(X).argmax(1) == y).mean() > 0.85


def test_divergence_is_reported_and_undone():
    X = np.random.default_rng(0).normal(0, 1e3, (64, 5))
    Y = np.random.default_rng(1).normal(0, 1e3, (64, 1))
    net = fastmlp.Network((5, 8, 1), output="identity", seed=0)
    before = net.get_flat()
    with pytest.raises(FloatingPointError, match="smaller learning_rate"):
        for _ in range(50):
            before = net.get_flat()
            net.train_epoch(X, Y, 8, learning_rate=10.0)
    np.testing.assert_array_equal(net.get_flat(), before)


def test_pickle_round_trip():
    net = fastmlp.Network((4, 3, 2), sparsity_target=0.1, sparsity_weight=0.5, seed=0)
    clone = pickle.loads(pickle.dumps(net))
    X = np.random.default_rng(0).uniform(size=(5, 4))
    np.testing.assert_array_equal(clone.forward(X), net.forward(X))
    assert repr(clone) == repr(net)


@pytest.mark.parametrize("params,error", [(np.array([1.0]), "length"), (np.full(23, np.nan), "NaN")])
def test_a_damaged_pickled_state_is_refused_not_broadcast(params, error):
    state = fastmlp.Network((4, 3, 2), seed=0).__getstate__()
    state["params"] = params
    with pytest.raises(ValueError, match=error):
        fastmlp.Network.__new__(fastmlp.Network).__setstate__(state)


def test_threads_and_build_info():
    info = fastmlp.build_info()
    assert {"blas", "openmp", "compiler", "cxx_flags", "version"} <= set(info)
    before = fastmlp.get_num_threads()
    try:
        fastmlp.set_num_threads(1)
        assert fastmlp.get_num_threads() == 1
    finally:
        fastmlp.set_num_threads(before)
    with pytest.raises(ValueError):
        fastmlp.set_num_threads(0)


BAD_CONSTRUCTOR = [
    (dict(layer_sizes=(3,)), ValueError, "at least"),
    (dict(layer_sizes=(3, 0)), ValueError, "positive"),
    (dict(layer_sizes="abc"), TypeError, "sequence"),
    (dict(layer_sizes=(3, 2), hidden_activation="swish"), ValueError, "hidden_activation"),
    (dict(layer_sizes=(3, 2), output="softplus"), ValueError, "output"),
    (dict(layer_sizes=(3, 2), output="identity", loss="cross_entropy"), ValueError, "softmax"),
    (dict(layer_sizes=(3, 2), loss="hinge"), ValueError, "loss"),
    (dict(layer_sizes=(3, 2, 3), sparsity_weight=0.1), ValueError, "sparsity_target"),
    (dict(layer_sizes=(3, 2, 3), sparsity_weight=0.1, sparsity_target=1.5), ValueError, "sparsity_target"),
    (dict(layer_sizes=(3, 2, 3), sparsity_weight=0.1, sparsity_target=0.1, hidden_activation="relu"),
     ValueError, "sigmoid"),
    (dict(layer_sizes=(3, 2, 3), weight_decay=-1), ValueError, "weight_decay"),
    (dict(layer_sizes=(3, 2, 4), tied_weights=True), ValueError, "tied_weights"),
    (dict(layer_sizes=(3, 2), dtype="float16"), TypeError, "dtype"),
    (dict(layer_sizes=(3, 2), seed=-1), ValueError, "seed"),
]


@pytest.mark.parametrize("kwargs,exc,match", BAD_CONSTRUCTOR)
def test_bad_constructor_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fastmlp.Network(**kwargs)


def test_bad_inputs_raise_clear_errors():
    net = fastmlp.Network((3, 2, 2), seed=0)
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    cases = [
        (lambda: net.forward(np.ones((4, 2))), ValueError, "features"),
        (lambda: net.forward(np.ones(3)), ValueError, "2-D"),
        (lambda: net.forward(np.ones((0, 3))), ValueError, "empty"),
        (lambda: net.forward(np.array([[np.nan, 0, 0]])), ValueError, "NaN"),
        (lambda: net.forward(np.ones((2, 3), complex)), TypeError, "real"),
        (lambda: net.forward([["a", "b", "c"]]), TypeError, "real"),
        (lambda: net.loss(X, np.array([0, 1, 2, 0])), ValueError, "label 2"),
        (lambda: net.loss(X, np.array([0, 1, -1, 0])), ValueError, "label -1"),
        (lambda: net.loss(X, y[:3]), ValueError, "3 labels for 4"),
        (lambda: net.loss(X, np.ones((4, 3))), ValueError, "shape"),
        (lambda: net.train_epoch(X, y, 0), ValueError, "batch_size"),
        (lambda: net.train_epoch(X, y, 2.5), ValueError, "batch_size"),
        (lambda: net.train_epoch(X, y, 2, optimizer="rmsprop"), ValueError, "optimizer"),
        (lambda: net.train_epoch(X, y, 2, learning_rate=-1), ValueError, "learning_rate"),
        (lambda: net.train_epoch(X, y, 2, learning_rate=np.nan), ValueError, "learning_rate"),
        (lambda: net.train_epoch(X, y, 2, momentum=1.0), ValueError, "momentum"),
        (lambda: net.hidden(X, layer=1), ValueError, "layer"),
        (lambda: net.set_flat(np.ones(3)), ValueError, "length"),
        (lambda: fastmlp.kl_sparsity([0.1, 0.2], 0), ValueError, "target"),
    ]
    for call, exc, match in cases:
        with pytest.raises(exc, match=match):
            call()


def test_inputs_are_converted_once_at_the_boundary():
    net = fastmlp.Network((3, 2), dtype="float32", seed=0)
    X = np.asfortranarray(np.arange(12, dtype=np.int64).reshape(4, 3))
    want = net.forward(np.ascontiguousarray(X, np.float32))
    np.testing.assert_array_equal(net.forward(X), want)
    np.testing.assert_array_equal(net.forward(X.tolist()), want)
    np.testing.assert_array_equal(net.forward(np.ascontiguousarray(X[::-1])[::-1]), want)


def test_native_refuses_concurrent_use_of_one_network():
    import threading
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(20000, 200)).astype(np.float32), rng.integers(0, 10, 20000)
    net = fastmlp.Network((200, 256, 10), seed=0)
    refusals = []

    def call(fn):
        try:
            fn()
        except RuntimeError as exc:  # whichever thread comes second is refused
            refusals.append(str(exc))

    t = threading.Thread(target=lambda: [call(lambda: net.train_epoch(X, y, 32)) for _ in range(3)])
    t.start()
    while t.is_alive():
        call(lambda: net.forward(X[:2]))
    t.join()
    assert refusals and all("another thread" in r for r in refusals)
    assert np.isfinite(net.get_flat()).all() and net.forward(X[:2]).shape == (2, 10)


def test_core_kernels_exist_for_every_reference_kernel():
    for name in ["activation_forward", "activation_backward", "softmax_forward", "softmax_backward",
                 "dense_forward", "dense_backward", "softmax_cross_entropy_forward",
                 "sigmoid_binary_cross_entropy_forward", "squared_error_forward", "output_error_backward",
                 "sparse_kl_penalty_forward", "sparse_kl_penalty_backward", "weight_decay_forward",
                 "weight_decay_backward", "sgd_update", "momentum_update", "adam_update"]:
        assert callable(getattr(_core, name)) and callable(getattr(ref, name))


def test_gradient_hook_sees_the_flat_gradient_before_each_update():
    rng = np.random.default_rng(4)
    X, y = rng.uniform(size=(40, 5)), rng.integers(0, 3, 40)
    seen = []

    def halve(grad):  # e.g. averaging over two identical ranks: sum, then divide
        seen.append(grad.copy())
        grad *= 0.5

    net, twin = fastmlp.Network((5, 4, 3), seed=0), fastmlp.Network((5, 4, 3), seed=0)
    net.train_epoch(X, y, 10, learning_rate=0.2, shuffle=False, gradient_hook=halve)
    twin.train_epoch(X, y, 10, learning_rate=0.1, shuffle=False)
    assert len(seen) == 4 and seen[0].shape == (net.n_parameters,)
    np.testing.assert_allclose(net.get_flat(), twin.get_flat(), rtol=1e-6, atol=1e-7)
    before = net.get_flat()

    def fail(grad):
        raise OSError("allreduce failed")

    with pytest.raises(OSError, match="allreduce failed"):
        net.train_epoch(X, y, 10, gradient_hook=fail)
    np.testing.assert_array_equal(net.get_flat(), before)
    with pytest.raises(TypeError, match="gradient_hook"):
        net.train_epoch(X, y, 10, gradient_hook=3)


def test_float_class_labels_are_told_apart_from_a_wrong_shape():
    """(n,) is the shape of labels: a float vector there is a dtype problem, and the error says so."""
    net = fastmlp.Network([2, 3, 2], seed=0)
    X = np.zeros((4, 2), np.float32)
    with pytest.raises(ValueError, match=r"looks like class labels but has dtype float64.*astype\(int\)"):
        net.train_epoch(X, np.array([0.0, 1.0, 0.0, 1.0]), batch_size=2)
    with pytest.raises(ValueError, match=r"must have shape \(4, 2\) or integer labels"):
        net.train_epoch(X, np.zeros(3), batch_size=2)


def test_native_loss_and_grad_checks_its_theta_and_grad_out():
    """The native call behind loss_and_grad_flat: theta and grad_out must be the parameter vector's size and the
    network's dtype (no silent copy), and grad_out writable; a refused argument changes nothing."""
    net = fastmlp.Network((3, 4, 2), seed=0)
    X = np.ones((5, 3), np.float32)
    y = np.zeros(5, np.int32)  # the native call takes int32 labels
    before = net.get_flat()
    size = net.n_parameters
    cases = [
        (dict(theta=np.zeros(size, np.float64)), TypeError, "theta must be a C-contiguous array of the network"),
        (dict(theta=np.zeros(2 * size, np.float32)[::2]), TypeError, "theta must be a C-contiguous"),
        (dict(theta=np.zeros(size + 1, np.float32)), ValueError, rf"theta must have shape \({size}\)"),
        (dict(grad_out=np.zeros((size, 1), np.float32)), ValueError, "grad_out must have shape"),
    ]
    read_only = np.zeros(size, np.float32)
    read_only.flags.writeable = False
    cases.append((dict(grad_out=read_only), ValueError, "grad_out must be writable"))
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            net._net.loss_and_grad(X, y, True, **kwargs)
        np.testing.assert_array_equal(net.get_flat(), before)
    with pytest.raises(ValueError, match="grad_out is only filled with want_grad=True"):
        net._net.loss_and_grad(X, y, False, grad_out=np.zeros(size, np.float32))
    # the network's own buffers passed back in (theta = its parameters, grad_out = its gradient) are fine
    own_loss = net._net.loss_and_grad(X, y, True, theta=net._params, grad_out=net._grads)
    assert own_loss == net._net.loss_and_grad(X, y, True)
    theta = np.full(size, 0.1, np.float32)
    grad = np.empty(size, np.float32)
    loss = net._net.loss_and_grad(X, y, True, theta=theta, grad_out=grad)
    np.testing.assert_array_equal(net.get_flat(), theta)
    np.testing.assert_array_equal(grad, net._grads)
    assert np.isfinite(loss)
