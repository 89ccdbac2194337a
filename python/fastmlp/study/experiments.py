"""The feature-learning study of the lecture notes, as computations that return plain numbers.

Steps (each a function below; :func:`run_features_part` runs them in order):

1. :func:`run_raw_softmax`: softmax regression on the 784 raw pixel intensities; its 10 weight vectors
   are kept after epoch ``min(20, epochs)`` and after the last epoch.
2. :func:`run_autoencoder`: a naive autoencoder (no sparsity) and a sparse one (KL penalty
   ``λ·Σ_i KL(α ‖ α̂_i)``, λ = ``sparsity_weight``, α = ``sparsity_target``), same hidden size.
3. :func:`run_feature_softmax`: softmax regression on each autoencoder's hidden activations.
4. :func:`run_backprop_network`: one sigmoid hidden layer + softmax output, both randomly initialised and
   trained end to end.
5. :func:`compare`: test accuracy per epoch of the four classifiers side by side, and the verdicts the
   report states (computed from the measured accuracies, with a stated margin).

Every model is a fastmlp estimator (each epoch runs in C++); the test and validation accuracies are
measured after every epoch by the estimators' per-epoch callback (a forward pass). Each function returns
``(numbers, arrays)``: ``numbers`` is JSON-serialisable (it goes into ``results.json``), ``arrays`` holds
what the figures need (weights, reconstructions, activations) and is not saved.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass, fields

import numpy as np

__all__ = ["StudyConfig", "StudyData", "QUICK", "resolve_source", "load_study_data", "run_raw_softmax",
           "run_autoencoder", "run_feature_softmax", "run_backprop_network", "compare", "run_features_part",
           "MODEL_LABELS"]

#: What ``--quick`` changes (the rest keeps its defaults): few epochs, for a first look in seconds.
QUICK = {"epochs": 10, "ae_epochs": 10}

#: Names of the four classifiers of the comparison, in plotting order, and their labels.
MODEL_LABELS = {
    "raw_softmax": "softmax on raw pixels",
    "naive_ae_softmax": "softmax on naive-AE features",
    "sparse_ae_softmax": "softmax on sparse-AE features",
    "backprop": "backprop network (1 hidden layer)",
}

FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Boot")


@dataclass
class StudyConfig:
    """Settings of the feature-learning study (the ``fastmlp study`` options).

    All training uses mini-batch SGD with (heavy-ball) momentum 0.9 and batches of ``batch_size``; the
    learning rates were tuned on the MNIST validation split (55k/5k) for a 50-epoch run. Both
    autoencoders get the same weight decay, that of the classic sparse-autoencoder recipe (3e-3): among
    0, 1e-4, 3e-4, 1e-3 and 3e-3 it gave the best mean validation accuracy of softmax on the two feature
    sets, and it removes the untrained noise (e.g. on the always-blank border pixels) from the weight
    images. ``ae_weight_decay=0`` is the lecture's objective without it.
    """

    dataset: str = "mnist"            # "mnist" or "fashion-mnist"
    data_dir: str | None = None       # searched first for the data set files
    sample: bool = False              # use the shipped MNIST sample (no search, no network)
    download: bool = True             # download the data set if it is not found
    download_timeout: float = 10.0    # seconds to wait for a mirror
    epochs: int = 50                  # epochs of every classifier (the x axis of the comparison)
    ae_epochs: int | None = None      # epochs of each autoencoder (None: same as epochs)
    hidden: int = 196                 # hidden units of both autoencoders and of the backprop network
    sparsity_weight: float = 0.1      # λ of the sparse autoencoder
    sparsity_target: float = 0.2      # α of the sparse autoencoder
    ae_weight_decay: float = 3e-3     # (w/2)·Σ‖W‖² on both autoencoders' weight matrices
    batch_size: int = 128
    momentum: float = 0.9
    softmax_learning_rate: float = 0.02           # raw-pixel softmax
    feature_softmax_learning_rate: float = 0.1    # softmax on autoencoder features
    ae_learning_rate: float = 0.1                 # both autoencoders
    backprop_learning_rate: float = 0.1           # the one-hidden-layer network
    seed: int = 0
    threads: int | None = None        # None: fastmlp's default (all cores)
    quick: bool = False               # few epochs (see QUICK), unless epochs are given explicitly

    @property
    def autoencoder_epochs(self) -> int:
        return self.epochs if self.ae_epochs is None else self.ae_epochs

    @property
    def snapshot_epochs(self) -> list[int]:
        """Epochs after which the raw softmax weights are drawn: min(20, epochs) and the last."""
        return sorted({min(20, self.epochs), self.epochs})

    def as_dict(self) -> dict:
        out = asdict(self)
        out["autoencoder_epochs"] = self.autoencoder_epochs
        out["softmax_weight_snapshot_epochs"] = self.snapshot_epochs
        out["solver"] = "momentum"
        return out

    @classmethod
    def field_names(cls):
        return [f.name for f in fields(cls)]


@dataclass
class StudyData:
    """The classic split of one data set, as float32 pixels in [0, 1] and int64 labels."""

    name: str
    title: str
    description: str
    is_sample: bool
    origin: str
    directory: str | None
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    notes: list

    def summary(self) -> dict:
        return {"dataset": self.name, "title": self.title, "source": self.description,
                "is_sample": self.is_sample, "origin": self.origin, "directory": self.directory,
                "n_train": int(len(self.X_train)), "n_validation": int(len(self.X_val)),
                "n_test": int(len(self.X_test)), "n_features": int(self.X_train.shape[1]),
                "pixel_range": [float(self.X_train.min()), float(self.X_train.max())],
                "splits": "train55k = the official training images except the last 5,000 (the last 500 of "
                          "the sample), validation = those last images, test = the official test images",
                "notes": list(self.notes)}


def resolve_source(dataset="mnist", *, data_dir=None, sample=False, download=True, timeout=10.0,
                   reporter=None, allow_sample=True):
    """The :class:`~fastmlp.datasets.DatasetSource` a run uses, and the notes said about it.

    ``sample=True`` takes the shipped MNIST sample without searching. Otherwise the data set is searched
    for, downloaded if allowed, and — for MNIST with ``allow_sample`` — replaced by the shipped sample
    when both fail. That fall-back is announced through ``reporter.note`` (always shown) instead of the
    loaders' UserWarning, with the loaders' explanation (where it looked, what the downloads said) as a
    ``reporter.message``. Returns ``(source, notes)``.
    """
    from .. import datasets
    from .progress import Reporter

    reporter = Reporter(quiet=True) if reporter is None else reporter
    title = "Fashion-MNIST" if dataset == "fashion-mnist" else "MNIST"
    if sample:
        if dataset != "mnist":
            raise ValueError("only MNIST has a shipped sample (--sample needs --dataset mnist)")
        reporter.message("Using the shipped MNIST sample (--sample): no search, no download.")
        return datasets.DatasetSource("mnist", "sample", "shipped sample"), []
    if download and datasets.find_dataset(dataset, data_dir) is None:
        reporter.message(f"{title} not found locally; trying to download it (timeout {timeout:g} s per mirror)...")
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = datasets.locate_dataset(dataset, data_dir=data_dir, download=download,
                                         allow_sample=allow_sample and dataset == "mnist",
                                         progress=not reporter.quiet, timeout=timeout)
    for warning in caught:
        text = str(warning.message)
        if source.is_sample and issubclass(warning.category, UserWarning):
            headline = (f"note: the full {title} data set is not available, so this run uses the SHIPPED SAMPLE "
                        f"({source.description}); its numbers are not the full-data results. "
                        "`fastmlp info` shows where data is looked for.")
            reporter.note(headline)
            reporter.message("  " + text.replace("\n", "\n  "))
            notes.append(headline)
        else:
            reporter.note(f"note: {text}")
            notes.append(text)
    return source, notes


def load_study_data(config: StudyConfig, reporter) -> StudyData:
    """Find (or download, or fall back to the sample for) the data set and load its classic split
    (see :func:`resolve_source`)."""
    from .. import datasets

    name = config.dataset
    title = "Fashion-MNIST" if name == "fashion-mnist" else "MNIST"
    source, notes = resolve_source(name, data_dir=config.data_dir, sample=config.sample, download=config.download,
                                   timeout=config.download_timeout, reporter=reporter)
    loader = datasets.load_fashion_mnist_splits if name == "fashion-mnist" else datasets.load_mnist_splits
    splits = loader(source=source)
    (X_train, y_train), (X_val, y_val) = splits["train55k"], splits["validation"]
    X_test, y_test = splits["test"]
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
    return StudyData(name=name, title=title, description=source.description, is_sample=source.is_sample,
                     origin=source.origin, directory=None if source.directory is None else str(source.directory),
                     X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test,
                     class_names=classes, notes=notes)


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
def _activation_numbers(H, target):
    """Statistics of hidden activations H (n_samples, n_hidden) measured on the test images."""
    from .. import kl_sparsity

    unit_means = H.mean(axis=0, dtype=np.float64)
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


# ---------------------------------------------------------------------------- 5. comparison
def accuracy_margin(accuracy: float, n_test: int) -> float:
    """Two binomial standard errors of an accuracy near ``accuracy`` measured on ``n_test`` images
    (at least 0.1 percentage point): differences within it are called "comparable"."""
    p = min(max(float(accuracy), 0.0), 1.0)
    return max(2.0 * math.sqrt(p * (1.0 - p) / max(int(n_test), 1)), 0.001)


def _verdict(value, reference, margin):
    if value > reference + margin:
        return "higher"
    if value < reference - margin:
        return "lower"
    return "comparable"


def _points(x):
    return f"{100 * x:.2f}%"


def _signed_points(x):
    return f"{100 * x:+.2f} points"


def compare(classifiers: dict, n_test: int) -> dict:
    """The comparison table and the verdicts, from the measured accuracies.

    ``classifiers`` maps each name of :data:`MODEL_LABELS` to its numbers. The verdicts compare final
    test accuracies (the last epoch, the same for every model); whether the best-epoch accuracies
    agree is stated too. Returns {"margin", "rows", "verdicts", "sentences", "agrees_with_lecture"}.
    """
    final = {name: classifiers[name]["final_test_accuracy"] for name in MODEL_LABELS}
    best = {name: classifiers[name]["best_test_accuracy"] for name in MODEL_LABELS}
    raw = final["raw_softmax"]
    margin = accuracy_margin(raw, n_test)
    rows = [{"name": name, "label": label, "final_test_accuracy": final[name], "best_test_accuracy": best[name],
             "best_test_epoch": classifiers[name]["best_test_epoch"],
             "test_accuracy_at_best_validation": classifiers[name]["test_accuracy_at_best_validation"],
             "best_validation_epoch": classifiers[name]["best_validation_epoch"],
             "final_validation_accuracy": classifiers[name]["final_validation_accuracy"],
             "parameters": classifiers[name]["parameters"], "train_seconds": classifiers[name]["train_seconds"]}
            for name, label in MODEL_LABELS.items()]

    verdicts = {
        "naive_vs_raw": _verdict(final["naive_ae_softmax"], raw, margin),
        "sparse_vs_raw": _verdict(final["sparse_ae_softmax"], raw, margin),
        "naive_vs_raw_best": _verdict(best["naive_ae_softmax"], best["raw_softmax"], margin),
        "sparse_vs_raw_best": _verdict(best["sparse_ae_softmax"], best["raw_softmax"], margin),
    }
    feature_models = ("raw_softmax", "naive_ae_softmax", "sparse_ae_softmax")
    best_other = max(feature_models, key=lambda n: final[n])
    verdicts["backprop_vs_best_softmax"] = _verdict(final["backprop"], final[best_other], margin)
    verdicts["best_softmax_model"] = best_other

    words = {"naive": {"higher": "improved on", "lower": "degraded", "comparable": "neither clearly improved nor "
                                                                                    "degraded"},
             "sparse": {"higher": "improved on", "lower": "degraded", "comparable": "neither clearly improved nor "
                                                                                     "degraded"}}
    sentences = [
        f"Differences within ±{100 * margin:.2f} points (two binomial standard errors of an accuracy near "
        f"{_points(raw)} on {n_test:,} test images) are called comparable; the verdicts use the final-epoch "
        "test accuracies."
    ]
    for kind in ("naive", "sparse"):
        key = f"{kind}_ae_softmax"
        verdict = verdicts[f"{kind}_vs_raw"]
        sentences.append(
            f"{kind.capitalize()}-autoencoder features {words[kind][verdict]} raw-pixel softmax: "
            f"{_points(final[key])} vs {_points(raw)} final test accuracy "
            f"({_signed_points(final[key] - raw)}).")
    differing = [k for k in ("naive", "sparse") if verdicts[f"{k}_vs_raw_best"] != verdicts[f"{k}_vs_raw"]]
    if differing:
        sentences.append("Judged by the best epoch instead (" + ", ".join(
            f"{k}: {_points(best[f'{k}_ae_softmax'])} vs raw {_points(best['raw_softmax'])}" for k in differing)
            + ") the verdict for " + " and ".join(f"{k} features" for k in differing) + " would be "
            + " and ".join(f"'{verdicts[f'{k}_vs_raw_best']}'" for k in differing) + ".")
    else:
        sentences.append("Judged by the best epoch of each run instead of the last, the verdicts are the same.")
    bp = verdicts["backprop_vs_best_softmax"]
    relation = {"higher": "above", "lower": "below", "comparable": "comparable to"}[bp]
    sentences.append(
        f"The end-to-end backprop network reached {_points(final['backprop'])}, {relation} the best "
        f"softmax model ({MODEL_LABELS[best_other]}, {_points(final[best_other])}; "
        f"{_signed_points(final['backprop'] - final[best_other])}).")
    lecture = verdicts["naive_vs_raw"] == "lower" and verdicts["sparse_vs_raw"] == "higher"
    if lecture:
        sentences.append("This agrees with the lecture notes: features that are not good enough (naive AE) "
                         "degrade the raw-pixel softmax, good ones (sparse AE) improve it.")
    else:
        sentences.append("This does not fully reproduce the lecture notes' finding (naive features degrade, "
                         "sparse features improve) at this margin and these settings.")
    return {"margin": margin, "rows": rows, "verdicts": verdicts, "sentences": sentences,
            "agrees_with_lecture": lecture}


# ---------------------------------------------------------------------------- the whole part
def run_features_part(data: StudyData, config: StudyConfig, reporter) -> tuple[dict, dict]:
    """Steps 1–5 on ``data``; returns (numbers for results.json, arrays for the figures)."""
    numbers, arrays, timings = {}, {}, {}
    steps = 6
    step_titles = ["softmax on raw pixels", "naive autoencoder", "softmax on naive-AE features",
                   "sparse autoencoder", "softmax on sparse-AE features", "backprop network"]

    def title(i):
        return f"[{i}/{steps}] {step_titles[i - 1]}"

    started = time.perf_counter()
    numbers["raw_softmax"], arrays["raw_softmax"] = run_raw_softmax(data, config, reporter, title(1))
    i = 2
    for kind in ("naive", "sparse"):
        ae_numbers, ae_arrays = run_autoencoder(kind, data, config, reporter, title(i))
        numbers[f"{kind}_autoencoder"], arrays[f"{kind}_autoencoder"] = ae_numbers, ae_arrays
        numbers[f"{kind}_ae_softmax"], arrays[f"{kind}_ae_softmax"] = run_feature_softmax(
            ae_arrays["model"], kind, data, config, reporter, title(i + 1))
        i += 2
    numbers["backprop"], arrays["backprop"] = run_backprop_network(data, config, reporter, title(6))
    numbers["comparison"] = compare({name: numbers[name] for name in MODEL_LABELS}, len(data.X_test))
    for name in ("raw_softmax", "naive_autoencoder", "naive_ae_softmax", "sparse_autoencoder", "sparse_ae_softmax",
                 "backprop"):
        timings[name] = {"train_seconds": numbers[name]["train_seconds"],
                         "wall_seconds": numbers[name]["wall_seconds"]}
    timings["total_seconds"] = time.perf_counter() - started
    numbers["timings"] = timings
    return numbers, arrays
