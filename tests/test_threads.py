"""Thread safety: the GIL is released in long native calls; separate networks train concurrently with the
same results as sequentially; forward passes on one network run from several threads at once, while a call
that trains it or computes a loss runs alone (an overlapping call gets RuntimeError instead of corrupting its
workspace). The thread count itself (set_num_threads) is tested in test_thread_count.py.

Oversubscription: fastmlp splits each product across the OpenMP pool, one single-threaded OpenBLAS call per thread
(cpp/gemm.cpp, tested in test_gemm_threads.py), so the BLAS and the element-wise loops share one pool of
``get_num_threads()`` threads instead of two pools competing for the cores.
"""
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import fastmlp


def data(n, d, k, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, d)).astype(np.float32), rng.integers(0, k, n)


def longest_stall(call):
    """Run ``call`` in another thread while this thread keeps counting; returns (the longest stretch of time
    during which this thread made no progress, the call's duration, the call's result)."""
    done = threading.Event()
    result = {}

    def worker():
        started = time.perf_counter()
        try:
            result["value"] = call()
        finally:
            result["seconds"] = time.perf_counter() - started
            done.set()

    thread = threading.Thread(target=worker)
    last = time.perf_counter()  # from before the start: a stall may begin as soon as the worker runs
    stall = 0.0
    thread.start()
    while not done.is_set():
        now = time.perf_counter()
        stall = max(stall, now - last)
        last = now
    thread.join()
    return stall, result["seconds"], result.get("value")


def test_long_native_calls_release_the_gil(threads):
    fastmlp.set_num_threads(1)  # the native call on one core, this thread's counting on the other
    rng = np.random.default_rng(0)
    X, y = data(8000, 200, 10, 0)
    net = fastmlp.Network((200, 2000, 10), seed=0)
    net.train_epoch(X[:200], y[:200], 100)  # workspace allocated, pool warm
    # Baseline, to show the measurement tells the difference: a native call that holds the GIL (the private
    # kernels do: they are short by design), here one long GEMM. The counting thread stalls for all of it.
    from fastmlp import _core
    A = rng.uniform(0, 1, (4000, 2000)).astype(np.float32)
    W = rng.uniform(0, 1, (2000, 2000)).astype(np.float32)
    stall, seconds, _ = longest_stall(lambda: _core.dense_forward(A, W, np.zeros(2000, np.float32), "identity"))
    assert stall > 0.8 * seconds, (stall, seconds)
    # The public calls release the GIL around the native work: the counting thread keeps going, its longest
    # stall (scheduling, the Python-side input checks) a small part of the call.
    for name, call in [("train_epoch", lambda: net.train_epoch(X[:2000], y[:2000], 100, learning_rate=0.01)),
                       ("forward", lambda: net.forward(X)),
                       ("loss_and_grad", lambda: net.loss_and_grad(X, y))]:
        stall, seconds, value = longest_stall(call)
        assert value is not None
        assert stall < 0.5 * seconds, (
            f"the counting thread stalled for {stall:.3f} s of the {seconds:.3f} s another thread spent in {name}: "
            f"{name} does not release the GIL")


def _train_all(configs, concurrently):
    """Train one network per config for 3 epochs (in one thread each, or one after the other)."""
    results = [None] * len(configs)

    def train(i):
        config, (X, Y), seed = configs[i]
        net = fastmlp.Network(**config, seed=seed)
        losses = [net.train_epoch(X, Y, 32, optimizer=opt, learning_rate=lr)
                  for opt, lr in (("sgd", 0.1), ("momentum", 0.01), ("adam", 0.001))]
        results[i] = (net.get_flat(), losses, net.forward(X))

    if concurrently:
        barrier = threading.Barrier(len(configs))

        def run(i):
            barrier.wait()
            train(i)

        workers = [threading.Thread(target=run, args=(i,)) for i in range(len(configs))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    else:
        for i in range(len(configs)):
            train(i)
    return results


def _configs():
    X, y = data(3000, 64, 10, 1)
    X2 = X[:, :48].astype(np.float64)
    return [
        (dict(layer_sizes=(64, 96, 10)), (X, y), 0),
        (dict(layer_sizes=(64, 96, 10)), (X, y), 1),
        (dict(layer_sizes=(64, 32, 32, 10), hidden_activation="relu"), (X, y), 2),
        (dict(layer_sizes=(48, 24, 48), output="sigmoid", sparsity_target=0.1, sparsity_weight=0.3,
              tied_weights=True, dtype="float64"), (X2, X2), 3),
    ]


def test_concurrent_training_of_separate_networks_is_bit_identical_with_one_thread(threads):
    fastmlp.set_num_threads(1)
    configs = _configs()
    sequential = _train_all(configs, concurrently=False)
    for _ in range(2):
        concurrent = _train_all(configs, concurrently=True)
        for (p, l, f), (p2, l2, f2) in zip(sequential, concurrent):
            np.testing.assert_array_equal(p2, p)
            np.testing.assert_array_equal(l2, l)
            np.testing.assert_array_equal(f2, f)


def test_concurrent_training_of_separate_networks_with_default_threads():
    # With several BLAS threads per call the summation order may depend on how many threads each call got,
    # so results agree to round-off rather than bitwise.
    configs = _configs()
    sequential = _train_all(configs, concurrently=False)
    concurrent = _train_all(configs, concurrently=True)
    for (p, l, f), (p2, l2, f2), (config, _, _) in zip(sequential, concurrent, configs):
        tol = dict(rtol=1e-9, atol=1e-10) if config.get("dtype") == "float64" else dict(rtol=1e-3, atol=1e-4)
        assert np.isfinite(p2).all() and np.isfinite(f2).all()
        np.testing.assert_allclose(p2, p, **tol)
        np.testing.assert_allclose(l2, l, **tol)
        np.testing.assert_allclose(f2, f, **tol)


def test_one_network_called_from_two_threads_refuses_the_second_call(threads):
    fastmlp.set_num_threads(1)
    X, y = data(20000, 100, 10, 2)
    net = fastmlp.Network((100, 100, 10), seed=0)
    twin = fastmlp.Network((100, 100, 10), seed=0)
    small = X[:16]
    expected_forward = twin.forward(small)
    refusals, successes = {"forward": 0, "loss": 0, "train_epoch": 0, "loss_and_grad": 0}, 0
    done = threading.Event()
    result = {}

    def long_training():
        try:
            while True:  # a call of the main thread may be in flight when this one starts: retry until in
                try:
                    result["loss"] = net.train_epoch(X, y, 16, learning_rate=0.05)
                    break
                except RuntimeError:
                    continue
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=long_training)
    worker.start()
    # Wait until the worker is inside its epoch: the first refused call proves it.
    while not done.is_set():
        try:
            net.forward(small)
        except RuntimeError:
            break
    calls = {"forward": lambda: net.forward(small), "loss": lambda: net.loss(small, y[:16]),
             "loss_and_grad": lambda: net.loss_and_grad(small, y[:16]),
             "train_epoch": lambda: net.train_epoch(small, y[:16], 4)}
    i = 0
    while not done.is_set():
        name = list(calls)[i % len(calls)]
        i += 1
        try:
            out = calls[name]()
        except RuntimeError as exc:
            assert "already running a call (from another thread" in str(exc)
            refusals[name] += 1
        else:
            # only possible in the instant between the epoch's end and `done`: a correct result
            successes += name == "train_epoch"
            if name == "forward":
                assert np.isfinite(out).all()
    worker.join()
    assert "error" not in result, result.get("error")
    assert all(count > 0 for count in refusals.values()), refusals
    assert np.isfinite(result["loss"])
    # Every other call was refused (or read-only), so the epoch ran from the initial parameters: the network
    # must hold exactly what the same epoch gives on an untouched twin, and still work.
    params = net.get_flat()
    assert np.isfinite(params).all()
    if successes == 0:
        twin.train_epoch(X, y, 16, learning_rate=0.05)
        np.testing.assert_array_equal(params, twin.get_flat())
        assert not np.array_equal(twin.forward(small), expected_forward)
    assert np.isfinite(net.forward(X[:100])).all()
    assert np.isfinite(net.train_epoch(X[:256], y[:256], 32))


@pytest.mark.parametrize("layer", ["output", "hidden"])
def test_forward_passes_on_one_network_from_many_threads_all_run_and_agree(threads, layer):
    # Inference only reads the parameters and runs on buffers of its own: no call is refused. Chunks of rows
    # (4096 a call) are covered by the larger X.
    fastmlp.set_num_threads(1)
    X, _ = data(5000, 50, 10, 3)
    net = fastmlp.Network((50, 64, 32, 10), seed=0)
    call = net.forward if layer == "output" else (lambda X: net.hidden(X, 1))
    # Each call compared with the same call made alone (a BLAS may sum a 100-row product in another order
    # than a 5000-row one).
    expected = [call(X) if i % 4 == 0 else call(X[i:i + 100]) for i in range(40)]
    bad, ok = [], []
    barrier = threading.Barrier(4)

    def hammer():
        barrier.wait()
        for i in range(40):
            rows = X if i % 4 == 0 else X[i:i + 100]  # large and small calls overlap
            try:
                out = call(rows)
            except BaseException as exc:  # noqa: BLE001 - reported below
                bad.append(repr(exc))
                return
            if not np.array_equal(out, expected[i]):
                bad.append("a forward pass returned wrong outputs")
            ok.append(1)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not bad, bad[:3]
    assert len(ok) == 4 * 40
    np.testing.assert_array_equal(call(X), expected[0])


def test_a_fitted_estimator_predicts_from_many_threads_at_once(threads):
    """A fitted model served from a thread pool: every predict_proba/predict call runs and agrees."""
    X, y = data(3000, 20, 3, 4)
    clf = fastmlp.MLPClassifier((32,), max_epochs=2, random_state=0).fit(X, y)
    expected_proba, expected_labels = clf.predict_proba(X), clf.predict(X)
    with ThreadPoolExecutor(4) as pool:
        probas = list(pool.map(lambda _: clf.predict_proba(X), range(16)))
        labels = list(pool.map(lambda _: clf.predict(X), range(16)))
    for p in probas:
        np.testing.assert_array_equal(p, expected_proba)
    for l in labels:
        np.testing.assert_array_equal(l, expected_labels)


def test_a_burst_of_concurrent_forwards_does_not_keep_its_peak_memory(threads):
    fastmlp.set_num_threads(1)
    X, _ = data(4096, 100, 10, 5)
    net = fastmlp.Network((100, 512, 10), seed=0)
    net.forward(X)
    one_call = net._net.workspace_bytes
    assert one_call >= 2 * 4096 * 512 * 4  # two blocks of hidden activations
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: net.forward(X), range(64)))
    kept = max(2, os.cpu_count() or 1)
    assert net._net.workspace_bytes <= kept * one_call
    net.forward(X[:10])  # a small call reuses a kept buffer: nothing grows
    assert net._net.workspace_bytes <= kept * one_call


@pytest.mark.parametrize("method", ["loss_and_grad_flat", "loss_and_grad"])
def test_gradients_asked_from_two_threads_are_each_for_their_own_call(threads, method):
    """Setting theta and copying the gradient out happen inside the guarded native call: a call from another
    thread can be refused, but never slip in between and leave one thread with the other's gradient."""
    fastmlp.set_num_threads(1)
    X, y = data(600, 30, 4, 6)
    parts = [(X[:300], y[:300]), (X[300:], y[300:])]  # each thread its own data
    net = fastmlp.Network((30, 40, 4), seed=0)
    rng = np.random.default_rng(0)
    thetas = [rng.normal(0, 0.3, net.n_parameters).astype(np.float32) for _ in range(2)]
    if method == "loss_and_grad":
        thetas = [net.get_flat()] * 2  # one set of parameters: only the data differ

    def call(i):
        if method == "loss_and_grad_flat":
            return net.loss_and_grad_flat(thetas[i], *parts[i])
        loss, gw, gb = net.loss_and_grad(*parts[i])
        return loss, np.concatenate([g.ravel() for g in gw] + [g.ravel() for g in gb])

    expected = [call(i) for i in range(2)]
    assert not np.array_equal(expected[0][1], expected[1][1])
    bad, done = [], [0, 0]
    barrier = threading.Barrier(2)

    def worker(i):
        barrier.wait()
        while done[i] < 150:
            try:
                loss, grad = call(i)
            except RuntimeError as exc:
                assert "already running a call (from another thread" in str(exc)
                continue
            done[i] += 1
            if loss != expected[i][0] or not np.array_equal(grad, expected[i][1]):
                bad.append(i)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert done == [150, 150]
    assert not bad, f"{len(bad)} calls returned a loss or gradient that was not their own"


def against_forward_passes(net, X, call, refusal="already running a call (from another thread"):
    """Runs call() over and over on this thread while another runs 20 forward passes of X on net (each retried
    when refused); returns (the passes' outputs, call()s refused, call()s that ran)."""
    done, outputs = threading.Event(), []

    def forwards():
        try:
            while len(outputs) < 20:
                try:
                    outputs.append(net.forward(X))
                except RuntimeError as exc:  # refused while this thread's call() ran: try again
                    assert "already running a call (from another thread" in str(exc)
        finally:
            done.set()

    worker = threading.Thread(target=forwards)
    worker.start()
    refused = succeeded = 0
    while not done.is_set():
        try:
            call(succeeded)
        except RuntimeError as exc:
            assert refusal in str(exc)
            refused += 1
        else:
            succeeded += 1
    worker.join()
    assert len(outputs) == 20
    return outputs, refused, succeeded


def test_a_call_that_needs_the_network_alone_is_refused_while_forward_passes_run(threads):
    fastmlp.set_num_threads(1)
    X, y = data(20000, 100, 10, 2)
    net = fastmlp.Network((100, 256, 10), seed=0)
    expected = net.forward(X)
    expected_loss = net.loss(X[:64], y[:64])

    def loss(_):
        assert net.loss(X[:64], y[:64]) == expected_loss  # exclusive, and changes nothing

    outputs, refused, succeeded = against_forward_passes(net, X, loss)
    assert refused > 0, (refused, succeeded)
    for out in outputs:
        np.testing.assert_array_equal(out, expected)
    assert net.loss(X[:64], y[:64]) == expected_loss


@pytest.mark.parametrize("setter", ["set_flat", "set_parameters"])
def test_setting_the_parameters_never_lands_in_the_middle_of_a_forward_pass(threads, setter):
    # Each forward pass sees the old parameters or the new ones, never a mix: setting them while passes run is
    # refused like a training call.
    fastmlp.set_num_threads(1)
    X, _ = data(20000, 100, 10, 2)
    net = fastmlp.Network((100, 256, 10), seed=0)
    thetas = [net.get_flat(), -net.get_flat()]
    expected = []
    for theta in thetas:
        net.set_flat(theta)
        expected.append(net.forward(X))

    def set_parameters(succeeded):
        theta = thetas[succeeded % 2]
        if setter == "set_flat":
            net.set_flat(theta)
        else:
            net.set_parameters(net.layout.weight_views(theta), net.layout.bias_views(theta))

    outputs, refused, succeeded = against_forward_passes(net, X, set_parameters,
                                                         refusal="setting the parameters needs it alone")
    assert refused > 0 and succeeded > 0, (refused, succeeded)
    for out in outputs:
        assert any(np.array_equal(out, want) for want in expected), "a forward pass read a mix of parameters"
