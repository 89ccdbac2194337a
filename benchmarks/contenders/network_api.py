"""The cases that fastmlp.Network and its NumPy twin fastmlp.reference.Network run through their common API:
one definition of the work, so that both contenders do exactly the same thing."""
from __future__ import annotations

import numpy as np

from .. import cases as C


def network_work(network_cls, case, data_dir, make_work):
    """make_work(run, warmup, net) for an MLP epoch, MNIST epoch, sparse-AE gradient or XOR case; None for
    any other case kind."""
    p = case.params
    if case.kind in ("mlp_epoch", "mnist_epoch"):
        X, y = C.epoch_data(case, data_dir)
        net = network_cls([C.N_INPUT, p["hidden"], C.N_CLASSES], hidden_activation="sigmoid",
                          output="softmax", seed=C.SEED)
        b, lr = p["batch_size"], p["learning_rate"]
        run = lambda: net.train_epoch(X, y, b, optimizer="sgd", learning_rate=lr)  # noqa: E731
        warm = None
        if case.kind == "mnist_epoch":
            Xw, yw = X[:4096], y[:4096]
            warm = lambda: net.train_epoch(Xw, yw, b, optimizer="sgd", learning_rate=lr)  # noqa: E731
        return make_work(run, warm, net)
    if case.kind == "mlp_products":  # fastmlp only: the products of an MLP epoch (see cases.py)
        X, y = C.epoch_data(case, data_dir)
        net = network_cls([C.N_INPUT, p["hidden"]], output="softmax", seed=C.SEED)  # H classes, labels 0..9
        b, lr = p["batch_size"], p["learning_rate"]
        return make_work(lambda: net.train_epoch(X, y, b, optimizer="sgd", learning_rate=lr), None, net)
    if case.kind == "sae_grad":
        X = C.sae_data(p["n_samples"])
        net = network_cls([C.N_INPUT, p["hidden"], C.N_INPUT], hidden_activation="sigmoid",
                          output="sigmoid", loss="squared_error", sparsity_target=p["sparsity_target"],
                          sparsity_weight=p["sparsity_weight"], weight_decay=p["weight_decay"],
                          seed=C.SEED)
        return make_work(lambda: net.loss_and_grad(X, X), None, net)
    if case.kind == "xor_steps":
        X, y = C.xor_data()
        Y = y.astype(np.float32).reshape(4, 1)
        net = network_cls([2, 2, 1], hidden_activation="sigmoid", output="sigmoid", seed=C.SEED)
        lr = p["learning_rate"]

        def run(n_steps):
            for _ in range(n_steps):
                net.train_epoch(X, Y, 4, optimizer="sgd", learning_rate=lr)
        return make_work(run, None, net)
    return None
