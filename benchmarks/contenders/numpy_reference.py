"""fastmlp.reference: the pure NumPy twin (NumPy's own BLAS; threads set by OPENBLAS_NUM_THREADS etc.,
which the driver puts in the worker's environment)."""
from __future__ import annotations

import numpy as np

from .. import cases as C

NAME = "numpy_ref"


def _numpy_blas():
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - old NumPy without CONFIG
        return "unknown"


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
        return [d.get("num_threads") for d in threadpool_info() if d.get("user_api") == "blas"]
    except Exception:  # noqa: BLE001 - threadpoolctl is optional
        return None


def describe():
    return {"version": np.__version__, "blas": _numpy_blas(), "threads": _blas_threads()}


class Work:
    def __init__(self, run, warmup=None):
        self.run = run
        if warmup is not None:
            self.warmup = warmup


def setup(case, threads, data_dir=None):
    from fastmlp import reference
    p = case.params
    if case.kind == "gemm":
        X = C.gemm_data(p["m"], p["k"])
        W = C.gemm_data(p["n"], p["k"], seed=C.SEED + 1)
        b = np.zeros(p["n"], np.float32)
        return Work(lambda: X @ W.T + b)          # same work as the fastmlp forward: GEMM + bias
    if case.kind in ("mlp_epoch", "mnist_epoch"):
        if case.kind == "mlp_epoch":
            X, y = C.mlp_data(p["n_samples"])
        else:
            X, y = C.load_mnist_train(data_dir)
        net = reference.Network([C.N_INPUT, p["hidden"], C.N_CLASSES], hidden_activation="sigmoid",
                                output="softmax", seed=C.SEED)
        b, lr = p["batch_size"], p["learning_rate"]
        run = lambda: net.train_epoch(X, y, b, optimizer="sgd", learning_rate=lr)  # noqa: E731
        warm = None
        if case.kind == "mnist_epoch":
            Xw, yw = X[:4096], y[:4096]
            warm = lambda: net.train_epoch(Xw, yw, b, optimizer="sgd", learning_rate=lr)  # noqa: E731
        return Work(run, warm)
    if case.kind == "sae_grad":
        X = C.sae_data(p["n_samples"])
        net = reference.Network([C.N_INPUT, p["hidden"], C.N_INPUT], hidden_activation="sigmoid",
                                output="sigmoid", loss="squared_error", sparsity_target=p["sparsity_target"],
                                sparsity_weight=p["sparsity_weight"], weight_decay=p["weight_decay"],
                                seed=C.SEED)
        return Work(lambda: net.loss_and_grad(X, X))
    if case.kind == "xor_steps":
        X, y = C.xor_data()
        Y = y.astype(np.float32).reshape(4, 1)
        net = reference.Network([2, 2, 1], hidden_activation="sigmoid", output="sigmoid", seed=C.SEED)
        lr = p["learning_rate"]

        def run(n_steps):
            for _ in range(n_steps):
                net.train_epoch(X, Y, 4, optimizer="sgd", learning_rate=lr)
        return Work(run)
    raise ValueError(f"numpy_ref cannot run case kind {case.kind!r}")
