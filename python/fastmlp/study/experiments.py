"""The feature-learning study of the lecture notes, as computations that return plain numbers.

Steps (the models in :mod:`fastmlp.study.models`, the comparison in :mod:`fastmlp.study.comparison`;
:func:`run_features_part` below runs them in order):

1. :func:`run_raw_softmax`: softmax regression on the 784 raw pixel intensities; its 10 weight vectors
   are kept after epoch ``min(20, epochs)`` and after the last epoch.
2. :func:`run_autoencoder`: a naive autoencoder (no sparsity) and a sparse one (KL penalty
   ``λ·Σ_i KL(α ‖ α̂_i)``, λ = ``sparsity_weight``, α = ``sparsity_target``), same hidden size.
3. :func:`run_feature_softmax`: softmax regression on each autoencoder's hidden activations.
4. :func:`run_backprop_network`: one sigmoid hidden layer + softmax output, both randomly initialised and
   trained end to end.
5. :func:`compare`: test accuracy per epoch of the four classifiers side by side, and the verdicts the
   report states (computed from the measured accuracies, with a stated margin).

(:mod:`fastmlp.study.config` holds the settings, :mod:`fastmlp.study.data` the data; their names are
importable from here too.)
"""
from __future__ import annotations

import time

from .comparison import MODEL_LABELS, accuracy_margin, compare  # noqa: F401 - accuracy_margin: imported from here
from .config import QUICK, StudyConfig
from .data import StudyData, load_study_data, resolve_source
from .models import run_autoencoder, run_backprop_network, run_feature_softmax, run_raw_softmax

__all__ = ["StudyConfig", "StudyData", "QUICK", "resolve_source", "load_study_data", "run_raw_softmax",
           "run_autoencoder", "run_feature_softmax", "run_backprop_network", "compare", "run_features_part",
           "MODEL_LABELS"]


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
    numbers["comparison"] = compare({name: numbers[name] for name in MODEL_LABELS}, len(data.X_test),
                                    {kind: numbers[f"{kind}_autoencoder"] for kind in ("naive", "sparse")})
    for name in ("raw_softmax", "naive_autoencoder", "naive_ae_softmax", "sparse_autoencoder", "sparse_ae_softmax",
                 "backprop"):
        timings[name] = {"train_seconds": numbers[name]["train_seconds"],
                         "wall_seconds": numbers[name]["wall_seconds"]}
    timings["total_seconds"] = time.perf_counter() - started
    numbers["timings"] = timings
    return numbers, arrays
