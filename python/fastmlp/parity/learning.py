"""Learning N-bit parity by backprop (which widths and depths find it), the parameter plot, and the parity part of
``fastmlp study``."""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..network import Network
from .networks import (_check_bits, _tree, all_bipolar_inputs, bipolar_parity, depth, format_parity_table,
                       parity_table)

__all__ = ["LEARNING_ARCHITECTURES", "learn_parity", "parity_learning_study", "format_learning_table",
           "plot_parity_parameters", "run_parity_part"]


# ---------------------------------------------------------------------------- learning parity
# name → hidden layer sizes as a function of N; "tree-shaped" has the widths of tree_parity_network(N)
LEARNING_ARCHITECTURES = {
    "1 layer, N units": lambda n: (n,),
    "1 layer, 2N units": lambda n: (2 * n,),
    "1 layer, 2^N units": lambda n: (2 ** n,),
    "⌈log2 N⌉ layers of 4": lambda n: (4,) * max(1, math.ceil(math.log2(n))),
    "tree-shaped": lambda n: tuple(len(layer) for layer in _tree(n)[0].layers) or (1,),
}


def learn_parity(n_bits, hidden_layer_sizes, *, activation="tanh", output="softmax", optimizer="adam",
                 learning_rate=0.01, batch_size=None, max_epochs=2000, seed=0, dtype="float32"):
    """Train ``Network([N, *hidden_layer_sizes, k])`` by backprop (native ``train_epoch``) on all 2^N inputs
    until every one is classified right or ``max_epochs`` pass; accuracy is checked after every epoch.

    ``output="softmax"``: two classes (k = 2, cross-entropy, class 1 = parity +1); ``"tanh"``/``"identity"``:
    k = 1, squared error on ±1 targets, the sign is the prediction. ``batch_size=None`` is full batch.
    Returns a dict: n_bits, hidden_layer_sizes, depth, parameters, seed, solved, epochs (to 100% accuracy, or
    max_epochs), accuracy (at the end), seconds, and the training settings.
    """
    n_bits = _check_bits(n_bits, 16)
    hidden = [int(h) for h in hidden_layer_sizes]
    X = all_bipolar_inputs(n_bits)
    y = bipolar_parity(X)
    if output == "softmax":
        target, n_out = (y > 0).astype(np.int64), 2
    elif output in ("tanh", "identity"):
        target, n_out = y[:, None], 1
    else:
        raise ValueError(f"output must be 'softmax', 'tanh' or 'identity', got {output!r}")
    net = Network([n_bits, *hidden, n_out], hidden_activation=activation, output=output, dtype=dtype, seed=seed)
    X = X.astype(dtype)

    def accuracy():
        out = net.forward(X)
        predicted = np.where(out.argmax(axis=1) == 1, 1.0, -1.0) if n_out == 2 else np.sign(out[:, 0])
        return float(np.mean(predicted == y))

    start, epochs, acc = time.perf_counter(), 0, accuracy()
    while acc < 1.0 and epochs < max_epochs:
        net.train_epoch(X, target, batch_size or len(X), optimizer=optimizer, learning_rate=learning_rate)
        epochs += 1
        acc = accuracy()
    return {"n_bits": n_bits, "hidden_layer_sizes": hidden, "depth": depth(net), "parameters": net.n_parameters,
            "seed": int(seed), "solved": acc == 1.0, "epochs": epochs, "accuracy": acc,
            "seconds": round(time.perf_counter() - start, 4), "activation": activation, "output": output,
            "optimizer": optimizer, "learning_rate": float(learning_rate), "batch_size": batch_size,
            "max_epochs": int(max_epochs)}


def parity_learning_study(n_bits_values=(2, 4, 6, 8), architectures=None, seeds=(0, 1, 2), **learn_kwargs):
    """:func:`learn_parity` for every N × architecture × seed; ``architectures`` maps a name to a function of
    N giving the hidden sizes (default :data:`LEARNING_ARCHITECTURES`). One row per run, with its name."""
    architectures = LEARNING_ARCHITECTURES if architectures is None else architectures
    rows = []
    for n in n_bits_values:
        for name, sizes in architectures.items():
            for seed in seeds:
                rows.append({"architecture": name, **learn_parity(n, sizes(n), seed=seed, **learn_kwargs)})
    return rows


def format_learning_table(rows):
    """Markdown summary of :func:`parity_learning_study` rows: per N and architecture, the seeds that reached
    100% accuracy and their epochs; the failures' best accuracy."""
    groups = {}
    for r in rows:
        groups.setdefault((r["n_bits"], r["architecture"]), []).append(r)
    lines = ["| N | architecture | hidden sizes | parameters | solved | epochs to 100% (per seed) | "
             "accuracy of failures |", "|---:|---|---|---:|---:|---|---|"]
    for (n, name), runs in groups.items():
        epochs = ", ".join(f"{r['epochs']}" if r["solved"] else f"✗ (>{r['epochs']})" for r in runs)
        failures = ", ".join(f"{r['accuracy']:.3f}" for r in runs if not r["solved"]) or "–"
        lines.append(f"| {n} | {name} | {tuple(runs[0]['hidden_layer_sizes'])} | {runs[0]['parameters']} | "
                     f"{sum(r['solved'] for r in runs)}/{len(runs)} | {epochs} | {failures} |")
    first = rows[0] if rows else {}
    settings = (f"{first.get('activation')} hidden units, {first.get('output')} output, {first.get('optimizer')} "
                f"(lr {first.get('learning_rate')}), batch {first.get('batch_size') or 'full'}, at most "
                f"{first.get('max_epochs')} epochs; accuracy on all 2^N inputs checked after every epoch.")
    return settings + "\n\n" + "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- plots and the study part
def _parameter_curve(ax, rows, name, label, color):
    """The formula's parameter count of network ``name`` against N: filled markers where the network was built
    and checked on all 2^N inputs (``*_exact``), hollow where only the formula gives it."""
    n = [r["n_bits"] for r in rows]
    values = [float(r[f"{name}_parameters_formula"]) for r in rows]
    ax.plot(n, values, color=color, linewidth=1, label=label)
    checked = [r.get(f"{name}_exact") is True for r in rows]
    for filled in (True, False):
        ax.plot([k for k, c in zip(n, checked) if c == filled], [v for v, c in zip(values, checked) if c == filled],
                linestyle="none", marker="o", markersize=3.5, color=color, markerfacecolor=color if filled else "none")


def plot_parity_parameters(rows, path):
    """PNG of parameters vs N, from :func:`parity_table` rows; returns the path. Left, on a linear scale: the chain,
    the tree and the slide's 9N, which differ by tens of parameters (the chain passes 9N from N = 6). Right, on a
    log scale: the memorizer's 2^N growth against the chain."""
    from ..approximation import _new_figure  # one place that knows how to get a pyplot-free Agg figure
    fig = _new_figure(width=10.0, height=4.2)
    linear, log = fig.subplots(1, 2)
    small = [r for r in rows if r["n_bits"] <= 16] or rows  # where chain, tree and 9N can be told apart
    chain, tree = "chain (layered, carries inputs): (N²+15N−16)/2", "tree: O(N), depth ⌈log2 N⌉+1"
    for ax, shown in ((linear, small), (log, rows)):
        _parameter_curve(ax, shown, "chain", chain, "C0")
        _parameter_curve(ax, shown, "tree", tree, "C1")
    n_small = [r["n_bits"] for r in small]
    linear.plot(n_small, [9.0 * k for k in n_small], linestyle="--", color="black", linewidth=1.5, zorder=3,
                label="9N (slide, skip connections)")
    _parameter_curve(log, rows, "memorizer", "memorizer, one unit per pattern: 2^N (N+2)", "C2")
    linear.set(xlabel="N (input bits)", ylabel="non-zero parameters",
               title=f"Chain and tree against 9N (N ≤ {max(n_small)})")
    log.set(yscale="log", xlabel="N (input bits)", ylabel="non-zero parameters (log scale)",
            title="The memorizer grows as 2^N")
    for ax in (linear, log):
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, title="filled: built, checked on all 2^N inputs; hollow: formula", title_fontsize=7)
    fig.suptitle("Exact N-bit parity networks: parameters")
    fig.savefig(path, dpi=100)
    return Path(path)


def run_parity_part(out_dir, quick=False):
    """Write ``parity_table.md``, ``parity_learning.md`` and ``parity_parameters.png`` into out_dir.

    Full: :func:`parity_table` defaults and :func:`parity_learning_study` defaults. ``quick`` (for tests): chain
    and tree checked up to N = 10, memorizers built and checked up to N = 8, a tiny learning grid (N = 2, 3, one
    architecture, one seed, ≤ 500 epochs). Returns {"table": rows, "learning": rows, "files": [paths], "skipped": [...]},
    all JSON-serialisable; a plot is skipped (and said so) when matplotlib is missing.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        table = parity_table(range(2, 65), memorizer_build_limit=8, verify_limit=10, memorizer_verify_limit=8)
        learning = parity_learning_study((2, 3), {"1 layer, 2N units": LEARNING_ARCHITECTURES["1 layer, 2N units"]},
                                         seeds=(0,), max_epochs=500)
    else:
        table, learning = parity_table(), parity_learning_study()
    table_path, learning_path = out / "parity_table.md", out / "parity_learning.md"
    table_path.write_text("# Exact parity networks: depth vs parameters\n\n" + format_parity_table(table),
                          encoding="utf-8")
    learning_path.write_text("# Learning N-bit parity by backprop (all 2^N inputs, full batch)\n\n"
                             + format_learning_table(learning), encoding="utf-8")
    files, skipped = [str(table_path), str(learning_path)], []
    try:
        files.append(str(plot_parity_parameters(table, out / "parity_parameters.png")))
    except ImportError as exc:
        skipped.append(f"parity_parameters.png: {exc}")
    return {"table": table, "learning": learning, "files": files, "skipped": skipped}
