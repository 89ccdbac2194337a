"""Memory safety: no leaks in the native layer (resident set size stays flat over many calls and many
network lifetimes, on the success and on the exception paths).

The ASan/UBSan run is ``scripts/sanitize.sh`` (leak checking is left to these RSS tests: CPython leaks at exit,
so LeakSanitizer only reports noise). Each measurement runs in a fresh subprocess, reading
``/proc/self/statm`` after a warm-up, so that pytest's own allocations do not blur it.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")

#: growth of the resident set allowed over a whole phase (after its warm-up)
TOLERANCE_BYTES = 2 * 1024 * 1024

CHILD = textwrap.dedent(r'''
    import gc, json, os, sys
    import numpy as np
    import fastmlp

    PAGE = os.sysconf("SC_PAGE_SIZE")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE

    def measure(step, calls, warmup):
        for _ in range(warmup):
            step()
        gc.collect()
        before = rss()
        for _ in range(calls):
            step()
        gc.collect()
        return rss() - before

    phase, calls = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (6, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2], dtype=np.int32)
    net = fastmlp.Network((5, 4, 3), seed=0)
    native = net._net  # the pybind11 object: no Python-side conversion in the way
    ae = fastmlp.Network((5, 3, 5), output="sigmoid", sparsity_target=0.1, sparsity_weight=0.5, tied_weights=True,
                         dtype="float64", seed=0)
    X64 = X.astype(np.float64)
    bad_labels = np.array([0, 1, 2, 0, 1, 7], dtype=np.int32)
    wild = fastmlp.Network((5, 3), output="identity", loss="squared_error", seed=0)
    wild.set_flat(np.full(wild.n_parameters, 1e30))
    huge = np.full((6, 5), 1e30, np.float32)
    Y3 = np.zeros((6, 3), np.float32)

    def native_forward():
        native.forward(X, 1)
        native.forward(X, 0)

    def native_loss_and_grad():
        native.loss_and_grad(X, y, True)

    def native_train_epoch():
        native.train_epoch(X, y, 2, "adam", 0.001, 0.9, False, 0.9, 0.999, 1e-8, True)

    def public_calls():
        net.forward(X)
        net.loss_and_grad(X, y)
        net.train_epoch(X, y, 4, optimizer="momentum", learning_rate=0.01)
        ae.loss_and_grad(X64, X64)
        ae.train_epoch(X64, X64, 3, learning_rate=0.01)

    def exception_paths():
        for call in (lambda: native.train_epoch(X, bad_labels, 2, "sgd", 0.1, 0.9, False, 0.9, 0.999, 1e-8, True),
                     lambda: native.loss_and_grad(X, bad_labels, True),
                     lambda: wild.train_epoch(huge, Y3, 2, learning_rate=0.1),
                     lambda: native.forward(X, 9),
                     lambda: net.forward(np.ones((2, 4)))):
            try:
                call()
            except (ValueError, FloatingPointError):
                pass
            else:
                raise AssertionError("expected an error")

    def lifetimes():
        n = fastmlp.Network((20, 10, 5), seed=1)
        Xs = np.ones((8, 20), np.float32)
        n.train_epoch(Xs, np.arange(8) % 5, 4, optimizer="adam", learning_rate=0.01)  # workspace + Adam state
        n.forward(Xs)
        m = fastmlp.Network((20, 10, 20), output="sigmoid", tied_weights=True, dtype="float64", seed=2)
        m.train_epoch(Xs.astype(np.float64) / 2, Xs.astype(np.float64) / 2, 8, optimizer="momentum")
        views = n.weights + m.biases  # views keep the native object alive until they go
        del n, m, views

    def estimators():
        clf = fastmlp.MLPClassifier((4,), max_epochs=2, random_state=0).fit(X, y)
        clf.predict(X)

    steps = {"native_forward": native_forward, "native_loss_and_grad": native_loss_and_grad,
             "native_train_epoch": native_train_epoch, "public_calls": public_calls,
             "exception_paths": exception_paths, "lifetimes": lifetimes, "estimators": estimators}
    growth = measure(steps[phase], calls, warmup=max(calls // 20, 20))
    print(json.dumps({"phase": phase, "calls": calls, "growth": growth}))
''')

PHASES = [
    ("native_forward", 100_000),
    ("native_loss_and_grad", 100_000),
    ("native_train_epoch", 100_000),
    ("public_calls", 10_000),
    ("exception_paths", 10_000),
    ("lifetimes", 1_000),
    ("estimators", 300),
]


@pytest.mark.parametrize("phase,calls", PHASES, ids=[p for p, _ in PHASES])
def test_resident_set_stays_flat(phase, calls):
    proc = subprocess.run([sys.executable, "-c", CHILD, phase, str(calls)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["growth"] < TOLERANCE_BYTES, (
        f"{phase}: the resident set grew by {result['growth'] / 2**20:.2f} MiB over {calls} calls after warm-up")
