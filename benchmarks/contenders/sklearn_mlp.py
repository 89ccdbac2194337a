"""scikit-learn's MLPClassifier: ``partial_fit`` = one epoch of solver="sgd" with the case's batch_size,
momentum=0, learning_rate_init, alpha=0 (no L2), logistic hidden units and its softmax (or, for two
classes, logistic) output. Runs on NumPy's BLAS; float32 input stays float32 (scikit-learn ≥ 1.1)."""
from __future__ import annotations

import numpy as np

from .. import cases as C
from . import Work

NAME = "sklearn"


def describe():
    import sklearn
    info = {"version": sklearn.__version__}
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = ", ".join(f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads)"
                                 for d in threadpool_info() if d.get("user_api") == "blas")
    except Exception:  # noqa: BLE001 - threadpoolctl is optional
        pass
    return info



def _classifier(hidden, batch_size, lr):
    from sklearn.neural_network import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=(hidden,), activation="logistic", solver="sgd",
                         batch_size=batch_size, learning_rate="constant", learning_rate_init=lr,
                         momentum=0.0, nesterovs_momentum=False, alpha=0.0, shuffle=True,
                         random_state=C.SEED, early_stopping=False)


def setup(case, threads, data_dir=None):
    p = case.params
    if case.kind in ("mlp_epoch", "mnist_epoch"):
        X, y = C.epoch_data(case, data_dir)
        clf = _classifier(p["hidden"], p["batch_size"], p["learning_rate"])
        classes = np.arange(C.N_CLASSES)
        state = {"first": True}

        def run():
            if state["first"]:                    # the first call must name the classes
                state["first"] = False
                return clf.partial_fit(X, y, classes=classes)
            return clf.partial_fit(X, y)
        def warm_on_subset():                     # MNIST: warm up on 4,096 images, not a whole epoch
            state["first"] = False
            clf.partial_fit(X[:4096], y[:4096], classes=classes)
        return Work(run, warm_on_subset if case.kind == "mnist_epoch" else None)
    if case.kind == "xor_steps":
        X, y = C.xor_data()
        clf = _classifier(2, 4, p["learning_rate"])
        clf.partial_fit(X, y, classes=np.array([0, 1]))  # 2 classes: a 2-2-1 net with logistic output

        def run(n_steps):
            for _ in range(n_steps):
                clf.partial_fit(X, y)
        return Work(run)
    raise ValueError(f"sklearn cannot run case kind {case.kind!r}")
