"""Writing the study's results: ``results.json`` (every number), ``comparison.csv`` (test accuracy per
epoch) and ``report.md`` (figures by relative links, tables, the conclusion).

Top-level keys of ``results.json`` (:data:`RESULT_KEYS`):

* ``format`` ("fastmlp-study"), ``format_version`` (1), ``created`` (UTC, ISO 8601), ``command``
* ``settings``: the study configuration (epochs, hidden units, λ, α, learning rates, seed, ...)
* ``data``: the data set used (``source`` says "full MNIST from ..." or "shipped MNIST sample ...",
  ``is_sample``, split sizes) — null when only the parity/approximation parts ran
* ``versions``: fastmlp, numpy, python, matplotlib, tqdm, ``build_info`` (BLAS, OpenMP, compiler), threads
* ``timings``: seconds of the data loading, of each part, of the figures and in total
* ``parts`` (run), ``skipped_parts`` ({part: reason}), ``files`` (written, relative to the folder)
* one key per part run: ``features`` (``raw_softmax``, ``naive_autoencoder``, ``naive_ae_softmax``,
  ``sparse_autoencoder``, ``sparse_ae_softmax``, ``backprop``, ``comparison`` with ``rows``,
  ``verdicts``, ``sentences``, ``margin``; each classifier with ``per_epoch`` columns ``epoch``, ``loss``,
  ``seconds``, ``validation_accuracy``, ``test_accuracy``), ``parity``, ``approximation``.
"""
from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np

from .comparison import MODEL_LABELS

__all__ = ["RESULT_KEYS", "write_results_json", "write_comparison_csv", "write_report", "relative_files"]

RESULT_KEYS = ("format", "format_version", "created", "command", "settings", "data", "versions", "timings",
               "parts", "skipped_parts", "files")

FIGURES = {
    "softmax_weights": "softmax_weights.png",
    "naive_weights": "naive_ae_weights.png",
    "naive_reconstructions": "naive_ae_reconstructions.png",
    "naive_activations": "naive_ae_activations.png",
    "sparse_weights": "sparse_ae_weights.png",
    "sparse_reconstructions": "sparse_ae_reconstructions.png",
    "sparse_activations": "sparse_ae_activations.png",
    "autoencoder_training": "autoencoder_training.png",
    "comparison": "comparison.png",
}


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_results_json(results: dict, path) -> Path:
    path = Path(path)
    text = json.dumps(_jsonable(results), indent=1, ensure_ascii=False, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_comparison_csv(features: dict, path) -> Path:
    """epoch, then the test accuracy of each classifier of the comparison (one row per epoch)."""
    path = Path(path)
    columns = {name: features[name]["per_epoch"] for name in MODEL_LABELS}
    n = max(len(c["epoch"]) for c in columns.values())
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch"] + [f"{name}_test_accuracy" for name in MODEL_LABELS])
        for i in range(n):
            writer.writerow([i + 1] + [f"{c['test_accuracy'][i]:.6f}" if i < len(c["test_accuracy"]) else ""
                                       for c in columns.values()])
    return path


def relative_files(files, out_dir) -> list[str]:
    """Paths relative to out_dir (POSIX separators) where they lie inside it, else absolute."""
    out = Path(out_dir).resolve()
    result = []
    for f in files:
        p = Path(f).resolve()
        try:
            result.append(p.relative_to(out).as_posix())
        except ValueError:
            result.append(str(p))
    return result


# ---------------------------------------------------------------------------- report.md
def _pct(x):
    return "–" if x is None else f"{100 * x:.2f}%"


def _image(out_dir, name, alt):
    """A Markdown image line for a file that exists, else nothing."""
    return f"![{alt}]({name})\n" if (Path(out_dir) / name).is_file() else ""


def _selected_epochs(n):
    if n <= 25:
        return list(range(1, n + 1))
    chosen = {1, 2, 3, 4, 5, n}
    step = 5 if n <= 100 else 10 if n <= 250 else 25
    chosen.update(range(step, n + 1, step))
    return sorted(chosen)


def _features_section(features, settings, data, out_dir):
    lines = []
    raw = features["raw_softmax"]
    snap = raw["weight_snapshot_epochs"]
    lines += ["## 1. Softmax regression on raw pixels", "",
              f"{raw['model']}; {raw['parameters']:,} parameters; {raw['epochs']} epochs "
              f"(momentum SGD, learning rate {raw['learning_rate']:g}, batch {settings['batch_size']}). "
              f"Final test accuracy **{_pct(raw['final_test_accuracy'])}** (best {_pct(raw['best_test_accuracy'])} "
              f"after epoch {raw['best_test_epoch']}).", "",
              "The 10 weight vectors as 28×28 images after epoch "
              + " and after epoch ".join(str(e) for e in snap) + (" (the last)" if len(snap) > 1 else "")
              + ", each scaled by its own largest |weight|:", "",
              _image(out_dir, FIGURES["softmax_weights"], "softmax weights"), ""]

    naive, sparse = features["naive_autoencoder"], features["sparse_autoencoder"]
    alpha = settings["sparsity_target"]
    lines += ["## 2. Naive vs sparse autoencoder", "",
              f"Both: 784 → {settings['hidden']} sigmoid → 784 sigmoid, squared error ½‖x̂−x‖² (mean over images), "
              + (f"weight decay ({settings['ae_weight_decay']:g}/2)·Σ‖W‖², " if settings.get("ae_weight_decay") else "")
              + f"{naive['epochs']} epochs of momentum SGD (learning rate {naive['learning_rate']:g}). The sparse one "
              f"adds λ·Σ_i KL(α‖α̂_i) with λ = {settings['sparsity_weight']:g}, α = {alpha:g} (α̂_i = unit i's mean "
              "activation over the mini-batch). Measured on the test images:", "",
              "| | naive AE | sparse AE |", "|---|---:|---:|"]
    na, sa = naive["activations_test"], sparse["activations_test"]
    rows = [
        ("reconstruction error ½‖x̂−x‖² per image", f"{naive['test_reconstruction_error']:.3f}",
         f"{sparse['test_reconstruction_error']:.3f}"),
        ("per-pixel mean squared error", f"{naive['test_pixel_mse']:.4f}", f"{sparse['test_pixel_mse']:.4f}"),
        ("mean hidden activation", f"{na['mean_activation']:.3f}", f"{sa['mean_activation']:.3f}"),
        ("unit mean activation: min / median / max",
         f"{na['unit_mean_min']:.3f} / {na['unit_mean_median']:.3f} / {na['unit_mean_max']:.3f}",
         f"{sa['unit_mean_min']:.3f} / {sa['unit_mean_median']:.3f} / {sa['unit_mean_max']:.3f}"),
        ("units with mean activation > 0.5", f"{na['units_mean_above_0.5']}", f"{sa['units_mean_above_0.5']}"),
        ("activations below 0.1 / above 0.9", f"{100 * na['fraction_activations_below_0.1']:.1f}% / "
         f"{100 * na['fraction_activations_above_0.9']:.1f}%",
         f"{100 * sa['fraction_activations_below_0.1']:.1f}% / {100 * sa['fraction_activations_above_0.9']:.1f}%"),
        (f"Σ_i KL(α‖α̂_i) at α = {alpha:g}", f"{na['kl_to_target']:.3f}", f"{sa['kl_to_target']:.3f}"),
        ("training time (s)", f"{naive['train_seconds']:.1f}", f"{sparse['train_seconds']:.1f}"),
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.append("")
    lines += [_image(out_dir, FIGURES["autoencoder_training"], "autoencoder training curves"), ""]
    for kind, title in (("naive", "Case A: naive autoencoder (no sparsity constraint)"),
                        ("sparse", f"Case B: sparse autoencoder (λ = {settings['sparsity_weight']:g}, α = {alpha:g})")):
        lines += [f"### {title}", "",
                  "Weights (one tile per hidden unit):", "",
                  _image(out_dir, FIGURES[f"{kind}_weights"], f"{kind} autoencoder weights"),
                  "Reconstructions (top: test images, bottom: their reconstructions):", "",
                  _image(out_dir, FIGURES[f"{kind}_reconstructions"], f"{kind} autoencoder reconstructions"),
                  "Hidden-unit activations (units × samples) and the mean activation of each unit:", "",
                  _image(out_dir, FIGURES[f"{kind}_activations"], f"{kind} autoencoder activations"), ""]

    lines += ["## 3. Autoencoder features + softmax", ""]
    for kind in ("naive", "sparse"):
        r = features[f"{kind}_ae_softmax"]
        lines.append(f"* {r['model']}: {r['parameters']:,} parameters, learning rate {r['learning_rate']:g}, final "
                     f"test accuracy **{_pct(r['final_test_accuracy'])}** (best {_pct(r['best_test_accuracy'])} "
                     f"after epoch {r['best_test_epoch']}).")
    lines.append("")
    bp = features["backprop"]
    lines += ["## 4. Shallow network by backpropagation", "",
              f"{bp['model']}; {bp['parameters']:,} parameters; momentum SGD, learning rate {bp['learning_rate']:g}. "
              f"Final test accuracy **{_pct(bp['final_test_accuracy'])}** (best {_pct(bp['best_test_accuracy'])} "
              f"after epoch {bp['best_test_epoch']}).", ""]

    comparison = features["comparison"]
    lines += ["## 5. Comparison", "",
              f"Test accuracy ({data['n_test']:,} test images) after every epoch of supervised training (the "
              "autoencoders were trained before, without labels):", "",
              _image(out_dir, FIGURES["comparison"], "test accuracy vs epoch"), "",
              "| model | parameters | final test accuracy | best test accuracy (epoch) | test acc. at best "
              "validation epoch (epoch) | training time (s) |",
              "|---|---:|---:|---:|---:|---:|"]
    for row in comparison["rows"]:
        lines.append(f"| {row['label']} | {row['parameters']:,} | **{_pct(row['final_test_accuracy'])}** | "
                     f"{_pct(row['best_test_accuracy'])} ({row['best_test_epoch']}) | "
                     f"{_pct(row['test_accuracy_at_best_validation'])} ({row['best_validation_epoch']}) | "
                     f"{row['train_seconds']:.2f} |")
    lines += ["", "**Conclusion (from the numbers above):** " + " ".join(comparison["sentences"][1:]), "",
              f"_{comparison['sentences'][0]}_", ""]
    n = max(len(features[name]["per_epoch"]["epoch"]) for name in MODEL_LABELS)
    shown = _selected_epochs(n)
    lines += ["Test accuracy per epoch" + ("" if len(shown) == n else " (selected epochs; every epoch is in "
                                           "`comparison.csv` and `results.json`)") + ":", "",
              "| epoch | " + " | ".join(MODEL_LABELS.values()) + " |",
              "|---:|" + "---:|" * len(MODEL_LABELS)]
    for e in shown:
        cells = []
        for name in MODEL_LABELS:
            acc = features[name]["per_epoch"]["test_accuracy"]
            cells.append(_pct(acc[e - 1]) if e <= len(acc) else "–")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def _part_section(name, title, part, out_dir):
    """A section for a part run by another module: its PNGs shown, its short Markdown files inlined,
    longer ones linked."""
    lines = [f"## {title}", ""]
    for f in part.get("files", []):
        path = Path(f) if os.path.isabs(f) else Path(out_dir) / f
        rel = relative_files([path], out_dir)[0]
        if not path.is_file():
            continue
        if path.suffix.lower() == ".png":
            lines += [f"![{path.stem}]({rel})", ""]
        elif path.suffix.lower() == ".md":
            text = path.read_text(encoding="utf-8").strip().splitlines()
            heading = text[0].lstrip("# ").strip() if text and text[0].startswith("#") else path.stem
            body = text[1:] if text and text[0].startswith("#") else text
            if len(body) <= 40:
                lines += [f"**{heading}** ([{rel}]({rel}))", ""] + body + [""]
            else:
                lines += [f"* [{heading}]({rel}) ({len(body)} lines)", ""]
        else:
            lines += [f"* [{rel}]({rel})", ""]
    for reason in part.get("skipped", []) or []:
        lines += [f"_skipped: {reason}_", ""]
    return lines


def write_report(results: dict, out_dir) -> Path:
    """report.md in out_dir from the results dict (figures must already be written)."""
    out_dir = Path(out_dir)
    settings, data, versions = results["settings"], results.get("data"), results["versions"]
    lines = ["# fastmlp study: feature learning for a shallow network", ""]
    if data is not None:
        if data["is_sample"]:
            lines += [f"> **Data: the {data['source']}**, not the full data set: {data['n_train']:,} training / "
                      f"{data['n_validation']:,} validation / {data['n_test']:,} test images. Accuracies are "
                      "lower and noisier than on the full set.", ""]
        else:
            lines += [f"Data: **{data['source']}** — {data['n_train']:,} training / {data['n_validation']:,} "
                      f"validation / {data['n_test']:,} test images.", ""]
        lines += [f"Inputs: the {data['n_features']} raw pixel intensities scaled to [0, 1]. Settings: "
                  f"{settings['epochs']} epochs per classifier, {settings['autoencoder_epochs']} per autoencoder, "
                  f"{settings['hidden']} hidden units, λ = {settings['sparsity_weight']:g}, "
                  f"α = {settings['sparsity_target']:g}, batch {settings['batch_size']}, momentum "
                  f"{settings['momentum']:g}, seed {settings['seed']}"
                  + (" (`--quick`)" if settings.get("quick") else "") + ".", ""]
    if "features" in results:
        comparison = results["features"]["comparison"]
        lines += ["**Conclusion:** " + " ".join(comparison["sentences"][1:]), ""]
        lines += _features_section(results["features"], settings, data, out_dir)
    if "parity" in results:
        lines += _part_section("parity", "Depth vs width: the parity function", results["parity"], out_dir)
    if "approximation" in results:
        lines += _part_section("approximation", "Universal approximation: a shallow network on a sinusoid",
                               results["approximation"], out_dir)
    for part, reason in results.get("skipped_parts", {}).items():
        lines += [f"_Part '{part}' skipped: {reason}_", ""]
    build = versions.get("build_info", {})
    timings = results["timings"]
    lines += ["## How this was made", "",
              f"* command: `{results['command']}`",
              f"* fastmlp {versions['fastmlp']}, numpy {versions['numpy']}, Python {versions['python']}, "
              f"matplotlib {versions.get('matplotlib')}; BLAS {build.get('blas')}, OpenMP {build.get('openmp')}, "
              f"{versions['threads']} thread(s)",
              f"* total time {timings['total_seconds']:.1f} s"
              + "".join(f", {k.replace('_seconds', '')} {v:.1f} s" for k, v in timings.items()
                        if k != "total_seconds" and isinstance(v, (int, float))),
              "* every number: [results.json](results.json)"
              + (", test accuracy per epoch: [comparison.csv](comparison.csv)" if "features" in results else ""),
              ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(lines).replace("\n\n\n", "\n\n"), encoding="utf-8")
    return path
