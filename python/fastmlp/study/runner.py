"""Running the study end to end: the parts, the figures, ``results.json`` and ``report.md``."""
from __future__ import annotations

import datetime
import platform
import time
from pathlib import Path

import numpy as np

from . import figures, report
from .comparison import MODEL_LABELS
from .config import StudyConfig
from .data import load_study_data
from .experiments import run_features_part
from .parts import PartUnavailable, load_part, resolve_parts
from .progress import Reporter

__all__ = ["run_study", "draw_feature_figures", "collect_versions"]


def collect_versions() -> dict:
    import fastmlp

    versions = {"fastmlp": fastmlp.__version__, "numpy": np.__version__, "python": platform.python_version(),
                "platform": platform.platform(), "build_info": fastmlp.build_info(),
                "threads": fastmlp.get_num_threads()}
    for name in ("matplotlib", "tqdm"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "unknown")
        except ImportError:
            versions[name] = None
    return versions


def draw_feature_figures(numbers, arrays, data, config: StudyConfig, out_dir, reporter) -> list[Path]:
    """Every PNG of the feature-learning part; returns the paths written."""
    out_dir = Path(out_dir)
    names = report.FIGURES
    files = []
    where = " (MNIST sample)" if data.is_sample and data.name == "mnist" else f" ({data.title})"
    bar = reporter.bar("figures", 9, unit="figure")

    def done(path):
        files.append(path)
        bar.update()

    try:
        done(figures.plot_softmax_weights(arrays["raw_softmax"]["weights"], out_dir / names["softmax_weights"],
                                          data.class_names, title_suffix=where))
        for kind in ("naive", "sparse"):
            a, n = arrays[f"{kind}_autoencoder"], numbers[f"{kind}_autoencoder"]
            label = ("Naive autoencoder (no sparsity)" if kind == "naive" else
                     f"Sparse autoencoder (λ = {config.sparsity_weight:g}, α = {config.sparsity_target:g})")
            done(figures.plot_autoencoder_weights(a["weights"], out_dir / names[f"{kind}_weights"],
                                                  f"{label}: encoder weights"))
            done(figures.plot_reconstructions(a["example_inputs"], a["example_reconstructions"], a["example_labels"],
                                              out_dir / names[f"{kind}_reconstructions"], f"{label}: reconstructions",
                                              error=n["test_reconstruction_error"]))
            done(figures.plot_activations(a["activation_batch"], a["activation_batch_labels"],
                                          a["mean_activation_per_unit"], out_dir / names[f"{kind}_activations"],
                                          f"{label}: hidden-unit activations",
                                          target=config.sparsity_target if kind == "sparse" else None))
        done(figures.plot_autoencoder_training(
            {kind: numbers[f"{kind}_autoencoder"]["per_epoch"] for kind in ("naive", "sparse")},
            out_dir / names["autoencoder_training"], target=config.sparsity_target))
        curves = {name: (numbers[name]["per_epoch"]["epoch"], numbers[name]["per_epoch"]["test_accuracy"])
                  for name in MODEL_LABELS}
        size = f"{len(data.X_test):,} test images" + (", shipped sample" if data.is_sample else "")
        done(figures.plot_comparison(curves, MODEL_LABELS, out_dir / names["comparison"],
                                     f"{data.title}: test accuracy vs epoch ({size})",
                                     margin=numbers["comparison"]["margin"]))
    finally:
        bar.close()
    return files


def run_study(config: StudyConfig, out_dir, part="all", reporter=None, command="fastmlp study") -> dict:
    """Run the parts of the study selected by ``part`` and write everything into ``out_dir``.

    Returns the results dict also written to ``results.json``. With ``part="all"`` a part whose module
    is missing from the build is skipped (and said so); asked for by name it raises PartUnavailable.
    Raises ImportError (with the install hint) if matplotlib is missing.
    """
    import fastmlp

    reporter = Reporter() if reporter is None else reporter
    figures.require_matplotlib()
    parts = resolve_parts(part)
    runners, skipped = {}, {}
    for name in parts:
        if name == "features":
            continue
        try:
            runners[name] = load_part(name)
        except PartUnavailable as exc:
            if part != "all":
                raise
            skipped[name] = str(exc)
            reporter.note(f"note: {exc}; skipped")
    previous_threads = fastmlp.get_num_threads()
    if config.threads is not None:
        fastmlp.set_num_threads(config.threads)
    try:
        return _run_parts(config, out_dir, parts, runners, skipped, reporter, command)
    finally:
        if config.threads is not None:
            fastmlp.set_num_threads(previous_threads)


def _run_parts(config, out_dir, parts, runners, skipped, reporter, command):
    import fastmlp


    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {"format": "fastmlp-study", "format_version": 1,
               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "command": command, "settings": config.as_dict(), "data": None,
               "versions": collect_versions(), "timings": {}, "parts": [], "skipped_parts": skipped, "files": []}
    files = []
    for name in parts:
        if name in skipped:
            continue
        part_started = time.perf_counter()
        if name == "features":
            reporter.message("== Feature learning on "
                             + ("Fashion-MNIST" if config.dataset == "fashion-mnist" else "MNIST") + " ==")
            data = load_study_data(config, reporter)
            results["timings"]["data_seconds"] = time.perf_counter() - part_started
            results["data"] = data.summary()
            reporter.message(f"Data: {data.description} — {len(data.X_train):,} training / {len(data.X_val):,} "
                             f"validation / {len(data.X_test):,} test images.")
            numbers, arrays = run_features_part(data, config, reporter)
            results["features"] = numbers
            figures_started = time.perf_counter()
            files += draw_feature_figures(numbers, arrays, data, config, out_dir, reporter)
            files.append(report.write_comparison_csv(numbers, out_dir / "comparison.csv"))
            results["timings"]["figures_seconds"] = time.perf_counter() - figures_started
        else:
            reporter.message(f"== Part '{name}'" + (" (quick)" if config.quick else "") + " ==")
            part_results = runners[name](out_dir, quick=config.quick)
            part_results = dict(part_results)
            part_results["files"] = report.relative_files(part_results.get("files", []), out_dir)
            results[name] = part_results
            files += [out_dir / f for f in part_results["files"]]
        results["timings"][f"{name}_seconds"] = time.perf_counter() - part_started
        results["parts"].append(name)
    results["timings"]["total_seconds"] = time.perf_counter() - started
    results["versions"]["threads"] = fastmlp.get_num_threads()
    files += [out_dir / "results.json", out_dir / "report.md"]
    results["files"] = report.relative_files(files, out_dir)
    report.write_results_json(results, out_dir / "results.json")
    report.write_report(results, out_dir)
    return results
