"""fastmlp: the native core (whole epochs in C++)."""
from __future__ import annotations

import numpy as np

from .. import cases as C

NAME = "fastmlp"


def describe():
    import os

    import fastmlp
    info = fastmlp.build_info()
    core = os.stat(fastmlp._core.__file__)
    return {"version": fastmlp.__version__, "blas": info.get("blas_config", info.get("blas", "")),
            "threads": fastmlp.get_num_threads(), "openmp": info.get("openmp", ""),
            "build_type": info.get("build_type", ""), "cxx_flags": info.get("cxx_flags", ""),
            # identifies the installed native build: a reinstall during a run shows up as a change
            "core_build": f"{int(core.st_mtime)}-{core.st_size}"}


class Work:
    def __init__(self, run, warmup=None, net=None):
        self.run = run
        if warmup is not None:
            self.warmup = warmup
        self._net = net

    def info(self):
        native = getattr(self._net, "_net", None)
        ws = getattr(native, "workspace_bytes", None)
        return {} if ws is None else {"workspace_bytes": int(ws)}


def setup(case, threads, data_dir=None):
    import fastmlp
    fastmlp.set_num_threads(threads)
    p = case.params
    if case.kind == "gemm":
        # fastmlp has no raw GEMM entry point: a one-layer identity-output net's forward is exactly one
        # (m, k)·(k, n) GEMM plus a bias pass and the allocation of the (m, n) output.
        net = fastmlp.Network([p["k"], p["n"]], output="identity", seed=C.SEED)
        X = C.gemm_data(p["m"], p["k"])
        return Work(lambda: net.forward(X), net=net)
    if case.kind in ("mlp_epoch", "mnist_epoch"):
        if case.kind == "mlp_epoch":
            X, y = C.mlp_data(p["n_samples"])
        else:
            X, y = C.load_mnist_train(data_dir)
        net = fastmlp.Network([C.N_INPUT, p["hidden"], C.N_CLASSES], hidden_activation="sigmoid",
                              output="softmax", seed=C.SEED)
        b, lr = p["batch_size"], p["learning_rate"]
        run = lambda: net.train_epoch(X, y, b, optimizer="sgd", learning_rate=lr)  # noqa: E731
        warm = None
        if case.kind == "mnist_epoch":
            Xw, yw = X[:4096], y[:4096]
            warm = lambda: net.train_epoch(Xw, yw, b, optimizer="sgd", learning_rate=lr)  # noqa: E731
        return Work(run, warm, net)
    if case.kind == "sae_grad":
        X = C.sae_data(p["n_samples"])
        net = fastmlp.Network([C.N_INPUT, p["hidden"], C.N_INPUT], hidden_activation="sigmoid",
                              output="sigmoid", loss="squared_error", sparsity_target=p["sparsity_target"],
                              sparsity_weight=p["sparsity_weight"], weight_decay=p["weight_decay"],
                              seed=C.SEED)
        return Work(lambda: net.loss_and_grad(X, X), net=net)
    if case.kind == "xor_steps":
        X, y = C.xor_data()
        Y = y.astype(np.float32).reshape(4, 1)
        net = fastmlp.Network([2, 2, 1], hidden_activation="sigmoid", output="sigmoid", seed=C.SEED)
        lr = p["learning_rate"]

        def run(n_steps):
            for _ in range(n_steps):
                net.train_epoch(X, Y, 4, optimizer="sgd", learning_rate=lr)
        return Work(run, net=net)
    raise ValueError(f"fastmlp cannot run case kind {case.kind!r}")
