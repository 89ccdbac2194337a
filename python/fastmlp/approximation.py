"""Universal approximation in practice: how many sigmoid hidden units does a shallow network need to fit a
sinusoid?

Data (:func:`sinusoid_data`): ``y = sin(2π·f·x) + noise·N(0, 1)`` with x ~ U[0, 1) from
:func:`fastmlp.datasets.sinusoid`; by default f = 2 (two periods), noise 0.1 (so the best possible MSE on
noisy samples is noise² = 0.01), 200 training samples and 1,000 held-out samples with fresh noise. The network
sees ``u = 2x − 1`` ∈ [−1, 1), the input range its initialisation is made for.

Model: ``Network([1, H, 1], hidden_activation="sigmoid", output="identity")``, squared error, trained by the
native ``train_epoch`` with adam (full batch by default) for a fixed number of epochs.

Initialisation ``init="spread"`` (default): hidden unit i is a step ``σ(w_i·(u − c_i))`` with centre
c_i ~ U[−1, 1], slope |w_i| ~ U[2, 8] and a random sign (weight w_i, bias −w_i·c_i); output weights
U(±1/√H), output bias 0. This is the constructive picture behind the universal approximation theorem (a sum of
shifted sigmoid steps) and it makes the fits reliable. ``init="glorot"`` keeps the Network's own
initialisation (zero biases: every step starts centred at u = 0, and nearly flat for large H); with the same
learning rate it often fails to fit at all for H ≥ 64: try it.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .network import Network

__all__ = ["DEFAULT_HIDDEN_UNITS", "sinusoid_data", "fit_sinusoid", "approximation_study",
           "format_approximation_table", "plot_fits", "plot_error_vs_hidden", "run_approximation_part"]

DEFAULT_HIDDEN_UNITS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
INITS = ("spread", "glorot")


def sinusoid_data(n_train=200, n_test=1000, frequency=2.0, noise=0.1, seed=0, n_grid=1001):
    """Training and held-out samples of the noisy sinusoid (seeds ``seed`` and ``seed + 1``) and the clean
    curve on an even grid of [0, 1]; a dict of float32 arrays of shape (n, 1) plus the settings."""
    from .datasets import sinusoid  # imported here: the datasets package pulls in download machinery
    X_train, y_train = sinusoid(n_train, frequency=frequency, noise=noise, random_state=seed)
    X_test, y_test = sinusoid(n_test, frequency=frequency, noise=noise, random_state=seed + 1)
    X_grid = np.linspace(0.0, 1.0, n_grid).reshape(-1, 1)
    y_grid = np.sin(2 * np.pi * frequency * X_grid)
    return {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
            "X_grid": X_grid.astype(np.float32), "y_grid": y_grid.astype(np.float32),
            "frequency": float(frequency), "noise": float(noise), "seed": int(seed)}


def _scaled(X):
    """x ∈ [0, 1) → u = 2x − 1 ∈ [−1, 1)."""
    return 2.0 * np.asarray(X, dtype=np.float64) - 1.0


def _mse(net, X, y):
    return float(np.mean((net.forward(_scaled(X).astype(net.dtype)) - y) ** 2))


def _spread_init(net, hidden_units, seed):
    rng = np.random.default_rng([seed, hidden_units])
    slopes = rng.choice([-1.0, 1.0], hidden_units) * rng.uniform(2.0, 8.0, hidden_units)
    centres = rng.uniform(-1.0, 1.0, hidden_units)
    output_weights = rng.uniform(-1.0, 1.0, (1, hidden_units)) / np.sqrt(hidden_units)
    net.set_parameters([slopes[:, None], output_weights], [-slopes * centres, np.zeros(1)])


def fit_sinusoid(hidden_units, data, *, epochs=2000, learning_rate=0.01, batch_size=None, init="spread", seed=0,
                 dtype="float32"):
    """Fit ``Network([1, H, 1])`` (sigmoid hidden, identity output, squared error) to ``data`` from
    :func:`sinusoid_data` with adam; returns (network, row). The row has hidden_units, parameters (3H + 1),
    train_mse, heldout_mse (fresh noisy samples), function_mse (against the clean curve on the grid),
    epochs, seconds. The network expects inputs already scaled to u = 2x − 1."""
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if isinstance(hidden_units, bool) or not isinstance(hidden_units, (int, np.integer)) or hidden_units < 1:
        raise ValueError(f"hidden_units must be a positive int, got {hidden_units!r}")
    hidden_units = int(hidden_units)
    net = Network([1, hidden_units, 1], hidden_activation="sigmoid", output="identity", dtype=dtype, seed=seed)
    if init == "spread":
        _spread_init(net, hidden_units, seed)
    X, y = _scaled(data["X_train"]).astype(net.dtype), data["y_train"].astype(net.dtype)
    start = time.perf_counter()
    for _ in range(epochs):
        net.train_epoch(X, y, batch_size or len(X), optimizer="adam", learning_rate=learning_rate)
    seconds = time.perf_counter() - start
    row = {"hidden_units": hidden_units, "parameters": net.n_parameters,
           "train_mse": _mse(net, data["X_train"], data["y_train"]),
           "heldout_mse": _mse(net, data["X_test"], data["y_test"]),
           "function_mse": _mse(net, data["X_grid"], data["y_grid"]),
           "epochs": int(epochs), "seconds": round(seconds, 4)}
    return net, row


def approximation_study(hidden_units=DEFAULT_HIDDEN_UNITS, *, n_train=200, n_test=1000, frequency=2.0, noise=0.1,
                        epochs=2000, learning_rate=0.01, batch_size=None, init="spread", seed=0, dtype="float32",
                        return_fits=False):
    """:func:`fit_sinusoid` for each H on one data set; returns the rows, or (rows, fits) with
    ``fits = {"data": data, "networks": {H: network}}`` for :func:`plot_fits` when ``return_fits``."""
    data = sinusoid_data(n_train, n_test, frequency, noise, seed)
    rows, networks = [], {}
    for h in hidden_units:
        net, row = fit_sinusoid(h, data, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                                init=init, seed=seed, dtype=dtype)
        rows.append(row)
        networks[row["hidden_units"]] = net
    return (rows, {"data": data, "networks": networks}) if return_fits else rows


def format_approximation_table(rows, noise=None):
    """Markdown table of :func:`approximation_study` rows (MSEs to 4 significant digits)."""
    lines = ["| H | parameters | train MSE | held-out MSE | MSE vs clean sin | epochs | seconds |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['hidden_units']} | {r['parameters']} | {r['train_mse']:.4g} | {r['heldout_mse']:.4g} | "
                     f"{r['function_mse']:.4g} | {r['epochs']} | {r['seconds']:.2f} |")
    if noise is not None:
        lines += ["", f"Noise σ = {noise}: a perfect fit of the clean curve has noisy-sample MSE ≈ σ² "
                      f"= {noise ** 2:.4g}."]
    return "\n".join(lines) + "\n"


def _new_figure(width=6.4, height=4.2):
    """A Figure on the Agg canvas, without pyplot: no global backend switch, nothing left open."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'fastmlp[plot]'") from exc
    return Figure(figsize=(width, height), layout="constrained")


def plot_fits(fits, path, hidden_units=None):
    """PNG of the clean curve, the noisy training samples and the fitted curves for several H (default: up to
    five, spread over those fitted); ``fits`` from ``approximation_study(..., return_fits=True)``."""
    data, networks = fits["data"], fits["networks"]
    if hidden_units is None:
        fitted = sorted(networks)
        hidden_units = sorted({fitted[round(i * (len(fitted) - 1) / 4)] for i in range(5)})
    fig = _new_figure(width=8.4)
    ax = fig.add_subplot()
    ax.scatter(data["X_train"][:, 0], data["y_train"][:, 0], s=6, color="lightgray",
               label=f"{len(data['X_train'])} noisy training samples (σ = {data['noise']:g})")
    ax.plot(data["X_grid"][:, 0], data["y_grid"][:, 0], color="black", linewidth=2,
            label=f"clean sin(2π·{data['frequency']:g}·x)")
    for h in hidden_units:
        net = networks[h]
        ax.plot(data["X_grid"][:, 0], net.forward(_scaled(data["X_grid"]).astype(net.dtype))[:, 0],
                linewidth=1.2, label=f"H = {h}")
    ax.set(xlabel="x", ylabel="y", title=f"Shallow sigmoid nets fitting sin(2π·{data['frequency']:g}·x)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot: the curve fills it
    fig.savefig(path, dpi=100)
    return Path(path)


def plot_error_vs_hidden(rows, path, noise=None):
    """PNG of training, held-out and clean-curve MSE against H (both axes log), with the noise floor σ²."""
    fig = _new_figure()
    ax = fig.add_subplot()
    h = [r["hidden_units"] for r in rows]
    for key, label in (("train_mse", "train"), ("heldout_mse", "held-out"), ("function_mse", "vs clean curve")):
        ax.plot(h, [r[key] for r in rows], marker="o", label=label)
    if noise:
        ax.axhline(noise ** 2, color="gray", linestyle="--", label="noise floor σ²")
    ax.set(xscale="log", yscale="log", xlabel="hidden units H", ylabel="mean squared error",
           title="How many hidden units does it take?")
    ax.set_xticks(h, [str(k) for k in h])
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    return Path(path)


def run_approximation_part(out_dir, quick=False):
    """Fit H = 1 … 256 (``quick``: H = 1, 4, 16 with 1,000 epochs) and write ``approximation_table.md``,
    ``approximation_fits.png`` and ``approximation_error_vs_hidden.png`` into out_dir. Returns
    {"settings": {...}, "rows": rows, "files": [paths], "skipped": [...]}, all JSON-serialisable; plots are
    skipped (and said so) when matplotlib is missing."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = dict(hidden_units=(1, 4, 16) if quick else DEFAULT_HIDDEN_UNITS, n_train=200, n_test=1000,
                    frequency=2.0, noise=0.1, epochs=1000 if quick else 2000, learning_rate=0.01, batch_size=None,
                    init="spread", seed=0)
    rows, fits = approximation_study(**settings, return_fits=True)
    table_path = out / "approximation_table.md"
    table_path.write_text(
        "# Universal approximation: shallow sigmoid nets on a sinusoid\n\n"
        f"y = sin(2π·{settings['frequency']:g}·x) + {settings['noise']}·N(0,1), x ~ U[0,1) scaled to 2x−1; "
        f"{settings['n_train']} training / {settings['n_test']} held-out samples; adam, lr "
        f"{settings['learning_rate']}, full batch, {settings['epochs']} epochs, '{settings['init']}' init, "
        f"seed {settings['seed']}.\n\n" + format_approximation_table(rows, settings["noise"]), encoding="utf-8")
    files, skipped = [str(table_path)], []
    try:
        files.append(str(plot_fits(fits, out / "approximation_fits.png")))
        files.append(str(plot_error_vs_hidden(rows, out / "approximation_error_vs_hidden.png", settings["noise"])))
    except ImportError as exc:
        skipped.append(f"approximation plots: {exc}")
    settings["hidden_units"] = list(settings["hidden_units"])
    return {"settings": settings, "rows": rows, "files": files, "skipped": skipped}
