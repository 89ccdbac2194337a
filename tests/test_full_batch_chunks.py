"""loss_and_grad of a large batch runs its output layer and backward pass in per-thread chunks of rows
(cpp/full_batch.cpp): the same loss and gradient as the NumPy reference and as central finite differences, on 1, 2
and 3 threads, with labels, every loss, sparsity, weight decay and tied weights; errors from inside the threads
reach the caller; repeated calls are bit-identical; the workspace stays far below the batch's size."""
import numpy as np
import pytest

import fastmlp
from fastmlp import reference as ref
from test_gradients import NETS, assert_grad_close, data, numeric_grad
from test_network import CONFIGS, TIED_SPARSE, targets

SOFTMAX_SQUARED = dict(layer_sizes=(9, 6, 4), output="softmax", loss="squared_error")  # δ(L) in its own buffer
CHUNK_ROWS = 256  # kChunkRows in cpp/full_batch.cpp: a batch runs in chunks from 2·CHUNK_ROWS·threads rows


def chunked(n, n_threads):
    return n >= 2 * CHUNK_ROWS * n_threads


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("n_threads,n", [(1, 700), (2, 1100), (3, 2600), (3, 1100)])
def test_loss_and_grad_match_reference(threads, dtype, config, n_threads, n):
    threads(n_threads)
    rng = np.random.default_rng(0)
    net, twin = fastmlp.Network(**config, dtype=dtype, seed=3), ref.Network(**config, dtype="float64", seed=3)
    X = rng.uniform(0, 1, (n, net.layer_sizes[0])).astype(dtype)
    Y = targets(rng, net, n)
    twin.set_flat(net.get_flat().astype(np.float64))
    loss, gw, gb = net.loss_and_grad(X, Y)
    want_loss, want_grad = twin.loss_and_grad(X.astype(np.float64), Y)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(loss, want_loss, **tol)
    np.testing.assert_allclose(np.concatenate([g.ravel() for g in gw + gb]), want_grad, **tol)
    np.testing.assert_allclose(net.loss(X, Y), want_loss, **tol)  # the loss alone takes the same path


# Without relu hidden units: over 1,100 samples some pre-activation always lies within the finite-difference step
# of relu's kink (the relu nets' chunked gradients match the reference above).
@pytest.mark.parametrize("sizes,hidden,output,loss,extra", [net for net in NETS if net[1] != "relu"])
def test_chunked_gradient_matches_finite_differences(threads, sizes, hidden, output, loss, extra):
    threads(2)
    rng = np.random.default_rng(0)
    net = fastmlp.Network(sizes, hidden_activation=hidden, output=output, loss=loss, dtype="float64", seed=1, **extra)
    theta = net.get_flat() + rng.normal(0, 0.1, net.get_flat().shape)
    X, Y = data(rng, 1100, sizes, output, loss or net.loss_name)
    assert chunked(len(X), 2)
    _, analytic = net.loss_and_grad_flat(theta, X, Y)

    def f(t):
        net.set_flat(t)
        return net.loss(X, Y)

    assert_grad_close(analytic, numeric_grad(f, theta.copy()))


def test_chunks_and_whole_batch_agree_and_repeat_bit_for_bit(threads):
    config = dict(layer_sizes=(30, 12, 30), output="sigmoid", loss="squared_error", sparsity_target=0.1,
                  sparsity_weight=3.0, weight_decay=1e-3)
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (1200, 30)).astype(np.float32)
    results = {}
    for n_threads in (1, 2, 3):  # 1 and 2: chunks; 3: the whole batch (1200 < 2·256·3)
        threads(n_threads)
        net = fastmlp.Network(**config, seed=4)
        first = net.loss_and_grad_flat(net.get_flat(), X, X)
        again = net.loss_and_grad_flat(net.get_flat(), X, X)
        assert first[0] == again[0]
        np.testing.assert_array_equal(first[1], again[1])
        results[n_threads] = first
    for n_threads in (1, 2):
        np.testing.assert_allclose(results[n_threads][0], results[3][0], rtol=1e-5)
        np.testing.assert_allclose(results[n_threads][1], results[3][1], rtol=1e-4, atol=1e-6)


def test_a_bad_label_inside_a_thread_reaches_the_caller(threads):
    threads(2)
    net = fastmlp.Network((8, 5, 3), seed=0)
    X = np.random.default_rng(2).uniform(0, 1, (1500, 8)).astype(np.float32)
    y = np.arange(1500) % 3
    good = net.loss_and_grad(X, y)
    bad = y.astype(np.int32)
    bad[1400] = 3  # in the second thread's rows
    with pytest.raises(ValueError, match="label 3 of sample 1400 is outside"):
        net._net.loss_and_grad(X, bad, True)
    again = net.loss_and_grad(X, y)  # the network is still usable and unchanged
    assert again[0] == good[0]


def test_the_workspace_holds_chunks_not_the_batch(threads):
    threads(2)
    net = fastmlp.Network((784, 196, 784), output="sigmoid", loss="squared_error", sparsity_target=0.1,
                          sparsity_weight=3.0, seed=0)
    X = np.random.default_rng(3).uniform(0, 1, (4000, 784)).astype(np.float32)
    net.loss_and_grad(X, X)
    whole_batch_output = 4000 * 784 * 4  # one copy of the output layer over the batch: 12.5 MB
    assert net._net.workspace_bytes < whole_batch_output


# train_epoch runs a batch in chunks when it needs no gather: the whole epoch in one batch (full-batch gradient
# descent, shuffled or not) or unshuffled batches; a last batch too small for chunks runs whole
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("optimizer,kwargs", [("sgd", {}), ("momentum", dict(nesterov=True)),
                                              ("adam", dict(learning_rate=0.01))])
@pytest.mark.parametrize("config", [CONFIGS[2], CONFIGS[6], TIED_SPARSE, CONFIGS[4], SOFTMAX_SQUARED])
@pytest.mark.parametrize("n_threads,n,batch,shuffle", [(2, 1100, 1100, True), (2, 1100, 1100, False),
                                                       (1, 1300, 600, False), (2, 2200, 1100, False),
                                                       (3, 1600, 1600, True)])
def test_train_epoch_in_chunks_matches_reference(threads, dtype, optimizer, kwargs, config, n_threads, n, batch,
                                                 shuffle):
    threads(n_threads)
    assert chunked(batch, n_threads)
    rng = np.random.default_rng(1)
    net, twin = fastmlp.Network(**config, dtype=dtype, seed=5), ref.Network(**config, dtype="float64", seed=5)
    X = rng.uniform(0, 1, (n, net.layer_sizes[0])).astype(dtype)
    Y = targets(rng, net, n)
    for _ in range(3):  # optimizer state and the shuffle state carry over between calls
        got = net.train_epoch(X, Y, batch, optimizer=optimizer, shuffle=shuffle, **kwargs)
        want = twin.train_epoch(X.astype(np.float64), Y, batch, optimizer=optimizer, shuffle=shuffle, **kwargs)
        tol = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got, want, **tol)
        np.testing.assert_allclose(net.get_flat(), twin.get_flat(), **tol)


@pytest.mark.parametrize("before,during", [(2, 4), (2, 1), (1, 3)])
@pytest.mark.parametrize("n,batch", [(4096, 2048), (3000, 1500)])
def test_set_num_threads_during_a_chunked_epoch_changes_nothing(threads, before, during, n, batch):
    """A gradient hook (or another Python thread) that changes the thread count mid-epoch: the epoch keeps the
    path and the workspace it chose at its start, and computes what the reference does."""
    threads(before)
    config = dict(layer_sizes=(16, 8, 16), output="sigmoid", loss="squared_error")
    net = fastmlp.Network(**config, dtype="float64", seed=0)
    twin = ref.Network(**config, dtype="float64", seed=0)
    X = np.random.default_rng(4).uniform(0, 1, (n, 16))
    calls = []

    def hook(grad):
        calls.append(fastmlp.get_num_threads())
        fastmlp.set_num_threads(during)

    for _ in range(2):
        got = net.train_epoch(X, X, batch, shuffle=False, gradient_hook=hook)
        want = twin.train_epoch(X, X, batch, shuffle=False)
        np.testing.assert_allclose(got, want, rtol=1e-10)
        np.testing.assert_allclose(net.get_flat(), twin.get_flat(), rtol=1e-9, atol=1e-12)
        fastmlp.set_num_threads(before)
    assert calls == [before, during] * 2


def test_a_gradient_hook_sees_the_chunked_gradient(threads):
    threads(2)
    config = dict(layer_sizes=(12, 6, 4), weight_decay=0.01)
    net = fastmlp.Network(**config, dtype="float64", seed=1)
    X = np.random.default_rng(5).uniform(0, 1, (1200, 12))
    y = np.arange(1200) % 4
    _, want = net.loss_and_grad_flat(net.get_flat(), X, y)
    seen = []
    net.train_epoch(X, y, 1200, gradient_hook=lambda grad: seen.append(grad.copy()))
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], want, rtol=1e-12, atol=1e-15)


def test_a_bad_label_in_a_chunked_epoch_undoes_it(threads):
    threads(2)
    net = fastmlp.Network((8, 5, 3), seed=0)
    X = np.random.default_rng(2).uniform(0, 1, (1500, 8)).astype(np.float32)
    bad = (np.arange(1500) % 3).astype(np.int32)
    bad[1400] = 3
    before = net.get_flat()
    with pytest.raises(ValueError, match="label 3 of sample 1400 is outside"):
        net._net.train_epoch(X, bad, 1500, "sgd", 0.1, 0.9, False, 0.9, 0.999, 1e-8, False, None)
    np.testing.assert_array_equal(net.get_flat(), before)


def test_full_batch_gradient_descent_holds_chunks_not_the_batch(threads):
    threads(2)
    net = fastmlp.Network((784, 256, 10), seed=0)
    X = np.random.default_rng(3).uniform(0, 1, (4000, 784)).astype(np.float32)
    net.train_epoch(X, np.arange(4000) % 10, 4000, learning_rate=0.1)
    whole_batch_deltas = 2 * 4000 * 784 * 4  # the two δ buffers a whole batch would need: 25 MB
    assert net._net.workspace_bytes < whole_batch_deltas


# Where the own kernels outrun the BLAS (an AVX-512 CPU whose BLAS runs AVX2 kernels, as under
# OPENBLAS_CORETYPE=Haswell), a batch in chunks runs the products of the forms they compute in them wherever the rows
# they read are whole 64-byte vectors (cpp/gemm.cpp, own_kernel_rows): X·Wᵀ, the weight gradients, and a tied
# decoder's δ·(Wᵀ)ᵀ and transposed gradient, at layer sizes that are multiples of 16 (and of 8 for float64 alone:
# the autoencoder's 24 hidden units); the products of other sizes, a tied decoder's forward product X·W and
# dX = δ·W through the BLAS, side by side in one network. Elsewhere these repeat the BLAS path's tests.
OWN_CONFIGS = [
    dict(layer_sizes=(32, 48, 16)),
    dict(layer_sizes=(64, 24, 64), output="sigmoid", loss="squared_error", sparsity_target=0.1, sparsity_weight=3.0,
         weight_decay=1e-3),
    dict(layer_sizes=(32, 16, 32), output="sigmoid", loss="squared_error", tied_weights=True, sparsity_target=0.1,
         sparsity_weight=0.5),
    dict(layer_sizes=(48, 32, 16, 8), hidden_activation="relu"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", OWN_CONFIGS)
@pytest.mark.parametrize("n_threads,n", [(1, 700), (2, 1100), (3, 2600)])
def test_chunks_in_the_own_kernels_match_reference(threads, dtype, config, n_threads, n):
    test_loss_and_grad_match_reference(threads, dtype, config, n_threads, n)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", OWN_CONFIGS)
def test_a_chunked_epoch_in_the_own_kernels_matches_reference(threads, dtype, config):
    """Full-batch SGD in chunks: each chunk's weight gradients added into its thread's gradient buffer (beta 1)."""
    test_train_epoch_in_chunks_matches_reference(threads, dtype, "sgd", {}, config, 2, 1100, 1100, True)


@pytest.mark.parametrize("extra", [dict(sparsity_target=0.1, sparsity_weight=3.0, weight_decay=0.01),
                                   dict(tied_weights=True, sparsity_target=0.2, sparsity_weight=0.5)])
def test_the_own_kernels_chunked_gradient_matches_finite_differences(threads, extra):
    """An autoencoder whose every row is a whole number of 64-byte vectors in float64 (16 inputs, 8 hidden units)."""
    test_chunked_gradient_matches_finite_differences(threads, (16, 8, 16), "sigmoid", "sigmoid", "squared_error",
                                                     extra)
