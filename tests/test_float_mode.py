"""Subnormal floats are flushed to zero inside Network calls only (cpp/float_mode.h): a saturated network's
values below 1.2e-38 take a slow path on x86, so training and prediction flush them; the single kernels, the
caller's thread and the OpenMP threads afterwards keep IEEE arithmetic."""
import subprocess
import sys

import numpy as np
import pytest

import fastmlp

TINY = np.float32(1e-39)  # a float32 subnormal (the smallest normal is 1.18e-38)


def identity_net(width=1):
    net = fastmlp.Network([width, width], output="identity", dtype="float32", seed=0)
    theta = net.get_flat()
    theta[:] = 0
    theta[: width * width] = np.eye(width, dtype=np.float32).ravel()  # weights first, then biases: W = I, b = 0
    net.set_flat(theta)
    return net


@pytest.mark.parametrize("width", [1, 256])  # 256 rows of 256: the loops fork onto the OpenMP threads
def test_network_forward_flushes_subnormals(width):
    X = np.full((256, width), TINY, dtype=np.float32)
    out = identity_net(width).forward(X)
    assert np.all(out == 0), "a subnormal input passed a Network call unflushed"
    X[:] = 1e-30  # normal numbers are untouched
    np.testing.assert_array_equal(identity_net(width).forward(X), X)


AFTER_A_CALL = """
import numpy as np, fastmlp
from fastmlp import _core
fastmlp.set_num_threads(2)
TINY = np.float32(1e-39)
rng = np.random.default_rng(0)
X, y = rng.random((2048, 64), dtype=np.float32), rng.integers(0, 10, 2048)
net = fastmlp.Network([64, 256, 10], dtype="float32", seed=0)
net.{call}  # forks: the OpenMP threads flush meanwhile (and are created by it, in a fresh process)
assert np.float32(TINY) * np.float32(1.0) == TINY, "the calling thread still flushes"
n = 1 << 16  # far above the size at which the update loop runs on every OpenMP thread
theta = np.zeros(n, dtype=np.float32)
_core.sgd_update(theta, np.full(n, -1.0, dtype=np.float32), float(TINY))  # θ − ρ·g = 1e-39 each
assert np.all(theta == TINY), f"{{np.count_nonzero(theta != TINY)}} of {{n}} subnormal results flushed by a kernel"
"""


@pytest.mark.parametrize("call", [
    "train_epoch(X, y, 256, optimizer='sgd', learning_rate=0.1)", "forward(X)",
    "loss_and_grad(X, np.eye(10, dtype=np.float32)[y])",  # 2,048 rows: in chunks, on a team of its own
    # a gradient hook that lowers the thread count mid-epoch: the second thread still gets its bits back
    "train_epoch(X, y, 256, gradient_hook=lambda g: fastmlp.set_num_threads(1)); fastmlp.set_num_threads(2)"])
def test_caller_and_openmp_threads_keep_ieee_arithmetic_after_a_network_call(call):
    # a fresh process: the OpenMP threads are created inside the call, inheriting its flushing mode
    done = subprocess.run([sys.executable, "-c", AFTER_A_CALL.format(call=call)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_python_called_back_mid_call_keeps_ieee_arithmetic():
    """A gradient hook and a signal handler run Python in the middle of train_epoch / forward: NumPy there must
    see subnormals as the caller would, not in the core's flush-to-zero mode."""
    import os
    import signal
    import threading

    rng = np.random.default_rng(0)
    X, y = rng.random((4096, 64), dtype=np.float32), rng.integers(0, 10, 4096)
    net = fastmlp.Network([64, 256, 10], dtype="float32", seed=0)
    seen = []

    def keeps_subnormals():
        return bool(np.array([TINY]) * np.float32(1) > 0)  # DAZ would read TINY as 0

    net.train_epoch(X, y, 256, gradient_hook=lambda grad: seen.append(keeps_subnormals()))
    assert seen and all(seen), "the gradient hook ran with subnormals flushed"

    handled = []
    wide = fastmlp.Network([64, 2048, 10], dtype="float32", seed=0)
    big = rng.random((200_000, 64), dtype=np.float32)  # ~60 GFLOP in 49 chunks: a few hundred ms
    previous = signal.signal(signal.SIGUSR1, lambda *_: handled.append((keeps_subnormals(), inside.is_set())))
    inside = threading.Event()
    try:
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        inside.set()
        timer.start()
        wide.forward(big)  # the handler runs at forward's next check for signals, between two chunks
        inside.clear()
        timer.join()
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert handled == [(True, True)], "the signal handler ran with subnormals flushed (or not during forward)"
