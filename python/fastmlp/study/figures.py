"""The study's figures, drawn with matplotlib on the Agg canvas (no pyplot: no global backend switch, no
window, nothing left open). matplotlib is imported only when a figure is drawn.

Image conventions: a 784-vector is a 28×28 image in row-major order (as the data sets store it), drawn
with its first row on top. Weight tiles are each normalised on their own: softmax weights by their
largest magnitude (diverging colours, 0 = white), autoencoder weights minus their mean and divided by
their largest magnitude (grey, 0 = mid-grey), as in the classic "display_network".
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["MATPLOTLIB_MISSING", "require_matplotlib", "plot_softmax_weights", "plot_autoencoder_weights",
           "plot_reconstructions", "plot_activations", "plot_autoencoder_training", "plot_comparison"]

MATPLOTLIB_MISSING = "matplotlib is required for `fastmlp study`: pip install 'fastmlp[study]'"
DPI = 100
COLORS = {"raw_softmax": "#1f77b4", "naive_ae_softmax": "#d62728", "sparse_ae_softmax": "#2ca02c",
          "backprop": "#9467bd", "naive": "#d62728", "sparse": "#2ca02c"}


def require_matplotlib():
    """Import matplotlib or raise ImportError with the install hint."""
    try:
        import matplotlib.figure
    except ImportError as exc:
        raise ImportError(MATPLOTLIB_MISSING) from exc
    return matplotlib.figure


def _figure(width, height, layout="constrained"):
    require_matplotlib()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _save(fig, path):
    path = Path(path)
    fig.savefig(path, dpi=DPI, facecolor="white")
    return path


def _side(n_pixels):
    side = int(round(math.sqrt(n_pixels)))
    if side * side != n_pixels:
        raise ValueError(f"cannot draw {n_pixels} values as a square image")
    return side


def tile_mosaic(tiles, n_cols, pad=1, fill=np.nan):
    """Images (n, h, w) laid out row by row in a grid of n_cols columns with ``pad`` pixels between."""
    n, h, w = tiles.shape
    n_rows = math.ceil(n / n_cols)
    mosaic = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad), fill, dtype=np.float64)
    for k in range(n):
        r, c = divmod(k, n_cols)
        top, left = pad + r * (h + pad), pad + c * (w + pad)
        mosaic[top:top + h, left:left + w] = tiles[k]
    return mosaic


def normalise_symmetric(W, centre=False):
    """Each row of W divided by its own largest magnitude (after subtracting its mean if ``centre``)."""
    W = np.asarray(W, dtype=np.float64)
    if centre:
        W = W - W.mean(axis=1, keepdims=True)
    scale = np.abs(W).max(axis=1, keepdims=True)
    return W / np.where(scale > 0, scale, 1.0)


# ---------------------------------------------------------------------------- 1. softmax weights
def plot_softmax_weights(snapshots, path, class_names, title_suffix=""):
    """The 10 weight vectors of the raw-pixel softmax as 28×28 images, one panel per snapshot epoch
    (side by side), each tile scaled by its own largest |weight|. ``snapshots``: {epoch: (10, 784)}."""
    import matplotlib

    epochs = sorted(snapshots)
    panel_width, bar_width = max(4.4, 5.6 / len(epochs)), 1.2
    fig = _figure(panel_width * len(epochs) + bar_width, 3.4)
    columns = fig.subfigures(1, len(epochs) + 1, width_ratios=[panel_width] * len(epochs) + [bar_width],
                             wspace=0.03)
    panels, bar_panel = columns[:-1], columns[-1]
    cmap = matplotlib.colormaps["RdBu_r"]
    image = None
    for panel, epoch in zip(panels, epochs):
        W = normalise_symmetric(snapshots[epoch])
        side = _side(W.shape[1])
        axes = panel.subplots(2, 5)
        for k, ax in enumerate(axes.flat):
            image = ax.imshow(W[k].reshape(side, side), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
            ax.set_title(f"class {class_names[k]}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        panel.suptitle(f"after epoch {epoch}" + (" (last)" if epoch == epochs[-1] and len(epochs) > 1 else ""),
                       fontsize=11)
    fig.suptitle("Softmax on raw pixels: weights of each class" + title_suffix, fontsize=12)
    cax = bar_panel.add_axes((0.08, 0.12, 0.16, 0.7))
    bar = bar_panel.colorbar(image, cax=cax)
    bar.set_label("weight / largest |weight| of the class\n(red: pixel votes for the class)", fontsize=8)
    return _save(fig, path)


# ---------------------------------------------------------------------------- 2. autoencoders
def plot_autoencoder_weights(W, path, title):
    """One 28×28 tile per hidden unit (its encoder weights), each normalised on its own, in a square grid."""
    import matplotlib

    W = normalise_symmetric(W, centre=True)
    side = _side(W.shape[1])
    n_cols = math.ceil(math.sqrt(W.shape[0]))
    mosaic = tile_mosaic(W.reshape(-1, side, side), n_cols)
    size = min(9.0, max(4.0, mosaic.shape[1] / 50))
    fig = _figure(size + 0.3, size + 0.6)
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(f"{W.shape[0]} hidden units, row by row; each tile = the unit's encoder weights (minus "
                  "their mean) / their largest |value|:\nwhite = +1, mid-grey = 0, black = −1", fontsize=8)
    return _save(fig, path)


def plot_reconstructions(inputs, reconstructions, labels, path, title, error=None):
    """Example test images (top row) above their reconstructions (bottom row), pixel intensities 0–1."""
    n = len(inputs)
    side = _side(inputs.shape[1])
    fig = _figure(1.0 * n + 1.2, 2.9)
    axes = fig.subplots(2, n, squeeze=False)
    image = None
    for k in range(n):
        for row, (images, name) in enumerate(((inputs, "input"), (reconstructions, "reconstruction"))):
            ax = axes[row, k]
            image = ax.imshow(np.asarray(images[k]).reshape(side, side), cmap="gray", vmin=0, vmax=1,
                              interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(name, fontsize=9)
        axes[0, k].set_title(f"label {labels[k]}", fontsize=8)
    suffix = "" if error is None else f" (test error ½‖x̂−x‖² = {error:.3f} per image)"
    fig.suptitle(title + suffix, fontsize=11)
    bar = fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.9, pad=0.01)
    bar.set_label("intensity", fontsize=8)
    return _save(fig, path)


def plot_activations(H, labels, unit_means, path, title, target=None):
    """Hidden activations of a batch as an image (units × samples, samples sorted by label) next to each
    unit's mean activation over all test images."""
    H = np.asarray(H, dtype=np.float64)
    n_samples, n_units = H.shape
    fig = _figure(11, 6.2)
    grid = fig.add_gridspec(1, 2, width_ratios=[3.2, 1])
    ax = fig.add_subplot(grid[0])
    image = ax.imshow(H.T, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xlabel(f"test image (a batch of {n_samples}, sorted by label)")
    ax.set_ylabel("hidden unit")
    ax.set_title("hidden-unit activations H (units × samples)", fontsize=10)
    labels = np.asarray(labels)
    starts = [0] + [i for i in range(1, n_samples) if labels[i] != labels[i - 1]]
    ends = starts[1:] + [n_samples]
    ax.set_xticks([(s + e - 1) / 2 for s, e in zip(starts, ends)], [str(labels[s]) for s in starts], fontsize=8)
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="white", linewidth=0.6, alpha=0.7)
    bar = fig.colorbar(image, ax=ax, pad=0.01)
    bar.set_label("activation σ(z)")

    side = fig.add_subplot(grid[1], sharey=ax)
    # a dot per unit (bars of 196 units merge into one block): the spread of the unit means stays visible
    side.plot(unit_means, np.arange(n_units), linestyle="none", marker="o", markersize=2.5, color="#4c72b0",
              label="one unit")
    mean = float(np.mean(unit_means))
    side.axvline(mean, color="black", linestyle=":", linewidth=1.2, label=f"mean over units {mean:.3f}")
    if target is not None:
        side.axvline(target, color="#d62728", linestyle="--", linewidth=1.2, label=f"sparsity target α = {target:g}")
    side.set_xlim(0, 1)
    side.set_xlabel("mean over the test images")
    side.set_title("mean activation per unit", fontsize=10)
    side.tick_params(labelleft=False)
    side.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)  # clear of the dots
    side.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=12)
    return _save(fig, path)


def plot_autoencoder_training(runs, path, target=None):
    """Test reconstruction error and mean hidden activation per epoch of the autoencoders.
    ``runs``: {"naive": per_epoch columns, "sparse": per_epoch columns}."""
    fig = _figure(10, 3.8)
    left, right = fig.subplots(1, 2)
    for kind, columns in runs.items():
        left.plot(columns["epoch"], columns["test_reconstruction_error"], color=COLORS.get(kind),
                  marker="o" if len(columns["epoch"]) <= 30 else None, markersize=3, label=f"{kind} AE")
        right.plot(columns["epoch"], columns["test_mean_activation"], color=COLORS.get(kind),
                   marker="o" if len(columns["epoch"]) <= 30 else None, markersize=3, label=f"{kind} AE")
    if target is not None:
        right.axhline(target, color="gray", linestyle="--", linewidth=1, label=f"target α = {target:g}")
    left.set(xlabel="epoch", ylabel="½‖x̂−x‖² per test image", title="reconstruction error (test images)")
    left.set_yscale("log")
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    left.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    left.yaxis.set_major_formatter(ScalarFormatter())
    left.yaxis.set_minor_formatter(NullFormatter())
    right.set(xlabel="epoch", ylabel="mean activation", title="mean hidden activation (test images)", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Autoencoder training", fontsize=12)
    return _save(fig, path)


# ---------------------------------------------------------------------------- 5. comparison
def plot_comparison(curves, labels, path, title, margin=None, reference="raw_softmax"):
    """Test accuracy vs epoch of the classifiers on one plot. ``curves``: {name: (epochs, accuracies)}. With
    ``margin`` (a fraction, the report's), a band of ±margin around the ``reference`` curve: a final accuracy
    inside it is what the report calls comparable."""
    fig = _figure(8, 5)
    ax = fig.add_subplot()
    if margin is not None and reference in curves:
        epochs, accuracy = curves[reference]
        accuracy = 100 * np.asarray(accuracy, dtype=np.float64)
        ax.fill_between(epochs, accuracy - 100 * margin, accuracy + 100 * margin, color=COLORS.get(reference),
                        alpha=0.15, linewidth=0,
                        label=f"{labels[reference]} ± {100 * margin:.2f} points: 'comparable' in the report")
    lows = []
    for name, (epochs, accuracy) in curves.items():
        accuracy = 100 * np.asarray(accuracy, dtype=np.float64)
        lows.append(np.min(accuracy))
        ax.plot(epochs, accuracy, color=COLORS.get(name), linewidth=1.8,
                marker="o" if len(epochs) <= 30 else None, markersize=3.5,
                label=f"{labels[name]} (final {accuracy[-1]:.2f}%)")
    ax.set_xlabel("epoch of supervised training")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, alpha=0.3)
    top = max(100 * max(np.max(a) for _, a in curves.values()), 0)
    ax.set_ylim(max(0.0, min(lows) - 0.5), min(100.0, top + 0.5))
    ax.legend(loc="lower right", fontsize=9)
    return _save(fig, path)
