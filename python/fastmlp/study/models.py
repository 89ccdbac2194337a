"""The models of the feature-learning study, one function per step (steps 1–4 of
:mod:`fastmlp.study.experiments`).

Every model is a fastmlp estimator (each epoch runs in C++); the test and validation accuracies are
measured after every epoch by the estimators' per-epoch callback (a forward pass). Each function returns
``(numbers, arrays)``: ``numbers`` is JSON-serialisable (it goes into ``results.json``), ``arrays`` holds
what the figures need (weights, reconstructions, activations) and is not saved.
"""
from __future__ import annotations

import time

import numpy as np

from .config import StudyConfig
from .data import StudyData

__all__ = ["run_raw_softmax", "run_autoencoder", "run_feature_softmax", "run_backprop_network"]


# ---------------------------------------------------------------------------- training with per-epoch scores
def _training_kwargs(config: StudyConfig, learning_rate: float, epochs: int) -> dict:
    # A fixed number of epochs: the stopping rule on the training loss is switched off.
    return dict(solver="momentum", learning_rate=learning_rate, momentum=config.momentum,
                batch_size=config.batch_size, max_epochs=epochs, n_iter_no_change=epochs + 1, tol=0.0,
                random_state=config.seed, verbose=False)


def _fit_with_scores(estimator, X, y, scorers, reporter, title, on_epoch=None, postfix=None):
    """Fit ``estimator`` on (X, y), calling every ``scorers[name]()`` after each epoch (inside the
    estimator's callback). Returns ({"epoch": [...], "loss": [...], "seconds": [...], name: [...]},
    wall-clock seconds of the whole fit including the scoring)."""
    columns = {"epoch": [], "loss": [], "seconds": [], **{name: [] for name in scorers}}
    bar = reporter.bar(title, estimator.max_epochs)

    def callback(record):
        columns["epoch"].append(int(record["epoch"]))
        columns["loss"].append(float(record["loss"]))
        columns["seconds"].append(float(record["seconds"]))
        for name, scorer in scorers.items():
            columns[name].append(float(scorer()))
        if on_epoch is not None:
            on_epoch(int(record["epoch"]))
        bar.update(**(postfix(columns) if postfix else {"loss": f"{record['loss']:.4g}"}))
        return None  # a truthy value would stop training

    estimator.set_params(callbacks=[callback])
    started = time.perf_counter()
    try:
        estimator.fit(X, y)
    finally:
        bar.close()
        estimator.set_params(callbacks=None)
    return columns, time.perf_counter() - started


def _accuracy_postfix(columns):
    return {"loss": f"{columns['loss'][-1]:.4f}", "test acc": f"{100 * columns['test_accuracy'][-1]:.2f}%"}


def _classifier_numbers(columns, wall_seconds, estimator, description):
    test, val = columns["test_accuracy"], columns["validation_accuracy"]
    best, best_val = int(np.argmax(test)), int(np.argmax(val))
    return {
        "model": description,
        "parameters": int(estimator.network_.n_parameters),
        "epochs": len(test),
        "final_test_accuracy": test[-1],
        "best_test_accuracy": test[best],
        "best_test_epoch": columns["epoch"][best],
        "final_validation_accuracy": val[-1],
        "best_validation_epoch": columns["epoch"][best_val],
        "test_accuracy_at_best_validation": test[best_val],
        "final_loss": columns["loss"][-1],
        "train_seconds": float(sum(columns["seconds"])),
        "wall_seconds": float(wall_seconds),
        "per_epoch": columns,
    }


def _classifier_scorers(estimator, data, X_val=None, X_test=None):
    X_val = data.X_val if X_val is None else X_val
    X_test = data.X_test if X_test is None else X_test
    return {"validation_accuracy": lambda: estimator.score(X_val, data.y_val),
            "test_accuracy": lambda: estimator.score(X_test, data.y_test)}


# ---------------------------------------------------------------------------- 1. raw softmax
def run_raw_softmax(data: StudyData, config: StudyConfig, reporter, title="softmax on raw pixels"):
    """Softmax regression on the raw pixels. arrays: ``{"weights": {epoch: (10, 784)}}``."""
    from .. import SoftmaxRegression

    model = SoftmaxRegression(**_training_kwargs(config, config.softmax_learning_rate, config.epochs))
    snapshots = {}

    def keep_weights(epoch):
        if epoch in config.snapshot_epochs:
            snapshots[epoch] = model.network_.weights[0].copy()

    columns, wall = _fit_with_scores(model, data.X_train, data.y_train, _classifier_scorers(model, data),
                                     reporter, title, on_epoch=keep_weights, postfix=_accuracy_postfix)
    numbers = _classifier_numbers(columns, wall, model, "softmax regression, 784 raw pixels → 10 classes")
    numbers["learning_rate"] = config.softmax_learning_rate
    numbers["weight_snapshot_epochs"] = sorted(snapshots)
    return numbers, {"weights": snapshots, "model": model}


# ---------------------------------------------------------------------------- 2. autoencoders
#: below this standard deviation over the test images in every hidden unit, an autoencoder's code is constant
COLLAPSED_UNIT_STD = 0.01


def _activation_numbers(H, target):
    """Statistics of hidden activations H (n_samples, n_hidden) measured on the test images."""
    from .. import kl_sparsity

    unit_means = H.mean(axis=0, dtype=np.float64)
    unit_spread = H.std(axis=0, dtype=np.float64)  # how much each unit varies from image to image
    return {
        "mean_activation": float(unit_means.mean()),
        "mean_activation_per_unit": [float(v) for v in unit_means],
        "unit_mean_min": float(unit_means.min()),
        "unit_mean_median": float(np.median(unit_means)),
        "unit_mean_max": float(unit_means.max()),
        "units_mean_above_0.5": int(np.sum(unit_means > 0.5)),
        "fraction_activations_below_0.1": float(np.mean(H < 0.1)),
        "fraction_activations_above_0.9": float(np.mean(H > 0.9)),
        "kl_to_target": float(kl_sparsity(H, target)),
        "kl_target": float(target),
        "unit_std_mean": float(unit_spread.mean()),
        "unit_std_max": float(unit_spread.max()),
        # every unit (nearly) the same for every image: the code tells the images apart no better than chance
        "collapsed": bool(unit_spread.max() < COLLAPSED_UNIT_STD),
    }


def _example_indices(y, n_per_class=1, n_classes=10):
    """The first n_per_class test images of each class, class by class."""
    picked = []
    for c in range(n_classes):
        picked.extend(np.flatnonzero(y == c)[:n_per_class].tolist())
    return np.array(picked, dtype=np.int64)


def run_autoencoder(kind: str, data: StudyData, config: StudyConfig, reporter, title=None):
    """Train the ``"naive"`` (no sparsity) or ``"sparse"`` autoencoder on the training images.

    numbers: reconstruction error per epoch (test images; mean over images of ½‖x̂ − x‖²), mean hidden
    activation per epoch, final errors and activation statistics on the test images (mean activation
    per unit, Σ KL(α ‖ α̂_i) against the sparsity target α for both kinds).
    arrays: the encoder weights (hidden, 784), example inputs and their reconstructions, a batch of hidden
    activations (samples sorted by label) with its labels, and the fitted model.
    """
    from .. import Autoencoder

    if kind not in ("naive", "sparse"):
        raise ValueError(f"kind must be 'naive' or 'sparse', got {kind!r}")
    weight = 0.0 if kind == "naive" else config.sparsity_weight
    model = Autoencoder(n_hidden=config.hidden, activation="sigmoid", output_activation="sigmoid",
                        loss="squared_error", sparsity_weight=weight, sparsity_target=config.sparsity_target,
                        weight_decay=config.ae_weight_decay,
                        **_training_kwargs(config, config.ae_learning_rate, config.autoencoder_epochs))
    scorers = {"test_reconstruction_error": lambda: -model.score(data.X_test),
               "test_mean_activation": lambda: float(model.transform(data.X_test).mean(dtype=np.float64))}

    def postfix(columns):
        return {"loss": f"{columns['loss'][-1]:.4f}", "test error": f"{columns['test_reconstruction_error'][-1]:.3f}",
                "mean act": f"{columns['test_mean_activation'][-1]:.3f}"}

    columns, wall = _fit_with_scores(model, data.X_train, None, scorers, reporter,
                                     title or f"{kind} autoencoder", postfix=postfix)
    H_test = model.transform(data.X_test)
    examples = _example_indices(data.y_test)
    batch = np.arange(min(100, len(data.X_test)))
    batch = batch[np.argsort(data.y_test[batch], kind="stable")]
    numbers = {
        "model": f"autoencoder 784 → {config.hidden} sigmoid → 784 sigmoid, squared error"
                 + ("" if weight == 0 else f" + {weight:g}·Σ KL({config.sparsity_target:g} ‖ α̂_i)")
                 + ("" if config.ae_weight_decay == 0 else f" + ({config.ae_weight_decay:g}/2)·Σ‖W‖²"),
        "sparsity_weight": weight,
        "weight_decay": config.ae_weight_decay,
        "sparsity_target": config.sparsity_target if weight > 0 else None,
        "learning_rate": config.ae_learning_rate,
        "parameters": int(model.network_.n_parameters),
        "epochs": len(columns["epoch"]),
        "final_loss": columns["loss"][-1],
        "test_reconstruction_error": -model.score(data.X_test),
        "validation_reconstruction_error": -model.score(data.X_val),
        "test_pixel_mse": 2.0 * -model.score(data.X_test) / data.X_test.shape[1],
        "activations_test": _activation_numbers(H_test, config.sparsity_target),
        "train_seconds": float(sum(columns["seconds"])),
        "wall_seconds": float(wall),
        "per_epoch": columns,
    }
    arrays = {
        "model": model,
        "weights": model.network_.weights[0].copy(),
        "example_inputs": data.X_test[examples],
        "example_reconstructions": model.reconstruct(data.X_test[examples]),
        "example_labels": data.y_test[examples],
        "activation_batch": model.transform(data.X_test[batch]),
        "activation_batch_labels": data.y_test[batch],
        "mean_activation_per_unit": H_test.mean(axis=0, dtype=np.float64),
    }
    return numbers, arrays


# ---------------------------------------------------------------------------- 3. features + softmax
def run_feature_softmax(autoencoder, kind: str, data: StudyData, config: StudyConfig, reporter, title=None):
    """Softmax regression on the hidden activations of a fitted autoencoder."""
    from .. import SoftmaxRegression

    H_train, H_val, H_test = (autoencoder.transform(X) for X in (data.X_train, data.X_val, data.X_test))
    model = SoftmaxRegression(**_training_kwargs(config, config.feature_softmax_learning_rate, config.epochs))
    columns, wall = _fit_with_scores(model, H_train, data.y_train, _classifier_scorers(model, data, H_val, H_test),
                                     reporter, title or f"softmax on {kind}-AE features",
                                     postfix=_accuracy_postfix)
    numbers = _classifier_numbers(columns, wall, model,
                                  f"softmax regression on the {config.hidden} hidden activations of the {kind} "
                                  "autoencoder (encoder fixed)")
    numbers["learning_rate"] = config.feature_softmax_learning_rate
    return numbers, {"model": model}


# ---------------------------------------------------------------------------- 4. backprop network
def run_backprop_network(data: StudyData, config: StudyConfig, reporter, title="backprop network"):
    """One sigmoid hidden layer + softmax output, randomly initialised, trained end to end."""
    from .. import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=(config.hidden,), activation="sigmoid",
                          **_training_kwargs(config, config.backprop_learning_rate, config.epochs))
    columns, wall = _fit_with_scores(model, data.X_train, data.y_train, _classifier_scorers(model, data),
                                     reporter, title, postfix=_accuracy_postfix)
    numbers = _classifier_numbers(columns, wall, model,
                                  f"784 → {config.hidden} sigmoid → 10 softmax, Glorot-uniform init, "
                                  "trained end to end by backpropagation")
    numbers["learning_rate"] = config.backprop_learning_rate
    return numbers, {"model": model}
