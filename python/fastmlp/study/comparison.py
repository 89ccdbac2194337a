"""The comparison of the four classifiers of the feature-learning study (step 5 of
:mod:`fastmlp.study.experiments`): the table and the verdicts, with a stated margin."""
from __future__ import annotations

import math

__all__ = ["MODEL_LABELS", "accuracy_margin", "compare"]

#: Names of the four classifiers of the comparison, in plotting order, and their labels.
MODEL_LABELS = {
    "raw_softmax": "softmax on raw pixels",
    "naive_ae_softmax": "softmax on naive-AE features",
    "sparse_ae_softmax": "softmax on sparse-AE features",
    "backprop": "backprop network (1 hidden layer)",
}


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


def compare(classifiers: dict, n_test: int, autoencoders: dict | None = None) -> dict:
    """The comparison table and the verdicts, from the measured accuracies.

    ``classifiers`` maps each name of :data:`MODEL_LABELS` to its numbers. The verdicts compare final
    test accuracies (the last epoch, the same for every model); whether the best-epoch accuracies
    agree is stated too. ``autoencoders`` (optional) maps "naive"/"sparse" to the autoencoders' numbers: a
    collapsed one (every hidden unit constant over the test images) is flagged, since its features' verdict
    then says that the autoencoder did not train, not how good such features are. Returns {"margin", "rows",
    "verdicts", "sentences", "agrees_with_lecture", "collapsed_autoencoders"}.
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
    collapsed = [kind for kind, numbers in (autoencoders or {}).items() if numbers["activations_test"]["collapsed"]]
    for kind in collapsed:
        a = autoencoders[kind]["activations_test"]
        sentences.append(
            f"Warning: the {kind} autoencoder collapsed: every hidden unit is nearly constant over the test images "
            f"(largest standard deviation {a['unit_std_max']:.4f}; unit means {a['unit_mean_min']:.3f}–"
            f"{a['unit_mean_max']:.3f}), so its features carry almost no information and its verdict above says "
            "that this autoencoder did not train, not how good autoencoder features are; try more epochs, more "
            "hidden units or another learning rate.")
    lecture = verdicts["naive_vs_raw"] == "lower" and verdicts["sparse_vs_raw"] == "higher" and not collapsed
    if collapsed:
        sentences.append("Whether these settings reproduce the lecture notes' finding (naive features degrade, "
                         "sparse features improve) cannot be judged from a collapsed autoencoder.")
    elif lecture:
        sentences.append("This agrees with the lecture notes: features that are not good enough (naive AE) "
                         "degrade the raw-pixel softmax, good ones (sparse AE) improve it.")
    else:
        sentences.append("This does not fully reproduce the lecture notes' finding (naive features degrade, "
                         "sparse features improve) at this margin and these settings.")
    return {"margin": margin, "rows": rows, "verdicts": verdicts, "sentences": sentences,
            "agrees_with_lecture": lecture, "collapsed_autoencoders": collapsed}
