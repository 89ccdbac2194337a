"""Depth versus width on N-bit parity: exact hand-built networks, their sizes, and learning parity by backprop.

Inputs are bipolar, x ∈ {−1, +1}^N, and parity(x) = +1 if the number of +1 entries is odd, else −1.

Every construction here is a :class:`fastmlp.Network` with relu hidden units and an identity output whose
output *is* ±1 on every bipolar input (the memorizer: on every pattern it stored). All intermediate values
are small integers, so float64 (the default) and even float32 compute them without rounding. Depth =
:func:`depth` = layers of connections (hidden layers + 1): XOR 2, chain N, tree ⌈log2 N⌉ + 1, memorizer 2.
Parameters = :func:`count_parameters` = non-zero weights and biases (the connections a construction uses).

**XOR block** (one hidden layer of two units and a linear read-out), for bipolar a, b::

    h1 = relu(a - b - 1)          # 1 iff a = +1, b = -1, else 0
    h2 = relu(b - a - 1)          # 1 iff a = -1, b = +1, else 0
    xor(a, b) = 2*h1 + 2*h2 - 1   # +1 iff a != b, else -1

9 connections, all non-zero: 4 weights + 2 biases into h, 2 weights + 1 bias out.

**Composition.** A block's output is linear in its hidden layer, so its read-out and the next block's
hidden layer compose into one layer (no layer computes a bare linear read-out except the last). Inside a
chain or tree a block whose operands are other blocks' outputs has hidden units with 4 weights + 1 bias
(e.g. ``relu(2h1 + 2h2 - 2h3 - 2h4 - 1)``): 10 connections; a block on two raw inputs has 6.

**Carrying.** A ``fastmlp.Network`` is strictly layered: no skip connections, so a value needed k layers
later goes through every layer in between as a *carry unit* ``c = relu(v + 1)``; since v + 1 ∈ {0, 2} the
relu is the identity on it, and v = c − 1 downstream. A carry costs 2 connections from an input (weight 1,
bias +1), 1 from a carry unit (weight 1; the −1 and +1 cancel) and 2 from a block output (weights 2, 2).
"""
from __future__ import annotations

import math

import numpy as np

from ..network import Network

__all__ = ["bipolar_parity", "all_bipolar_inputs", "xor_network", "chain_parity_network", "tree_parity_network",
           "memorizing_parity_network", "count_parameters", "depth", "chain_parameter_formula",
           "tree_parameter_formula", "memorizer_parameter_formula", "parity_table", "format_parity_table"]


def bipolar_parity(X):
    """+1 where a row of bipolar X has an odd number of +1 entries, else −1 (shape (n,), float64)."""
    odd = (np.asarray(X) > 0).sum(axis=1) % 2
    return 2.0 * odd - 1.0


def all_bipolar_inputs(n_bits):
    """All 2^n_bits bipolar inputs (row i = binary i, most significant bit first, 1 → +1, 0 → −1), float64,
    from :func:`fastmlp.datasets.parity`."""
    from ..datasets import parity  # imported here: the datasets package pulls in download machinery
    return parity(_check_bits(n_bits))[0].astype(np.float64)


def _check_bits(n_bits, limit=None):
    if isinstance(n_bits, (bool, np.bool_)) or not isinstance(n_bits, (int, np.integer)) or n_bits < 1 \
            or (limit is not None and n_bits > limit):
        raise ValueError(f"n_bits must be an int >= 1{'' if limit is None else f' and <= {limit}'}, got {n_bits!r}")
    return int(n_bits)


# ---------------------------------------------------------------------------- building relu networks
# A value is kept as a linear form over one layer's units, (coeffs, const) = Σ_i coeffs[i]·u_i + const.
def _linear(const, *terms):
    """const + Σ scale·form, for (scale, form) terms over the same layer; exact zeros are dropped."""
    coeffs = {}
    for scale, (form_coeffs, form_const) in terms:
        for unit, a in form_coeffs.items():
            coeffs[unit] = coeffs.get(unit, 0.0) + scale * a
        const += scale * form_const
    return {unit: a for unit, a in coeffs.items() if a != 0}, const


class _ReluNetBuilder:
    """Lays out XOR blocks and carry units layer by layer; every value is kept as a linear form over the
    latest layer, which is exactly what composing a block's linear read-out into the next layer means."""

    def __init__(self, n_inputs):
        self.n_inputs = n_inputs
        self.layers = []  # per hidden layer: [(form over the previous layer, role)]

    def inputs(self):
        return [({i: 1.0}, 0.0) for i in range(self.n_inputs)]

    def start_layer(self):
        self.layers.append([])

    def _unit(self, form, role):
        self.layers[-1].append((form, role))
        return {len(self.layers[-1]) - 1: 1.0}, 0.0

    def xor(self, a, b):
        h1 = self._unit(_linear(-1.0, (1, a), (-1, b)), "block")
        h2 = self._unit(_linear(-1.0, (-1, a), (1, b)), "block")
        return _linear(-1.0, (2, h1), (2, h2))

    def carry(self, value):
        return _linear(-1.0, (1, self._unit(_linear(1.0, (1, value)), "carry")))

    def connections(self, output):
        """Non-zero weights and biases into block units, carry units and the output."""
        counts = {"block": 0, "carry": 0, "output": 0}
        for (coeffs, const), role in [unit for layer in self.layers for unit in layer] + [(output, "output")]:
            counts[role] += len(coeffs) + (const != 0)
        return counts

    def network(self, output, dtype):
        sizes = [self.n_inputs] + [len(layer) for layer in self.layers] + [1]
        net = Network(sizes, hidden_activation="relu", output="identity", dtype=dtype, seed=0)
        weights = [np.zeros(w.shape) for w in net.weights]
        biases = [np.zeros(b.shape) for b in net.biases]
        for l, layer in enumerate(self.layers + [[(output, "output")]]):
            for row, ((coeffs, const), _) in enumerate(layer):
                for col, a in coeffs.items():
                    weights[l][row, col] = a
                biases[l][row] = const
        net.set_parameters(weights, biases)
        return net


def _chain(n_bits):
    # Block k (hidden layer k) computes p_k = xor(p_{k-1}, x_{k+1}), p_1's left operand being x_1; the
    # inputs a later block needs are carried through every earlier hidden layer.
    builder = _ReluNetBuilder(n_bits)
    first, *waiting = builder.inputs()
    while waiting:
        builder.start_layer()
        first = builder.xor(first, waiting[0])
        waiting = [builder.carry(v) for v in waiting[1:]]
    return builder, first


def _tree(n_bits):
    # Each hidden layer is one level of the tree: neighbours pair up in XOR blocks and an odd one out (the
    # last value) is carried up a level, so level sizes go n → ⌈n/2⌉ and there are ⌈log2 N⌉ levels.
    builder = _ReluNetBuilder(n_bits)
    values = builder.inputs()
    while len(values) > 1:
        builder.start_layer()
        paired = [builder.xor(values[i], values[i + 1]) for i in range(0, len(values) - 1, 2)]
        values = paired + ([builder.carry(values[-1])] if len(values) % 2 else [])
    return builder, values[0]


def xor_network(dtype="float64"):
    """The 2-2-1 XOR network of the slides as exact relu units: ``W1 = [[1, −1], [−1, 1]]``, ``b1 = [−1, −1]``,
    ``W2 = [[2, 2]]``, ``b2 = [−1]``; output = 2·relu(a−b−1) + 2·relu(b−a−1) − 1 ∈ {−1, +1}: 9 parameters."""
    return chain_parity_network(2, dtype)


def chain_parity_network(n_bits, dtype="float64"):
    """N−1 XOR blocks in a chain: hidden layer k holds block k, xor(p_{k−1}, x_{k+1}), plus carry units for
    x_{k+2} … x_N (one relu unit each, see the module docstring), so depth = N.

    Parameters (N ≥ 2): blocks 6 + 8(N−2) + 3 = 8N − 7 (the first block reads two inputs; each later block
    reads its predecessor's 2 units and 1 carry unit, with its read-out composed in; the output 3), and
    carries 2(N−2) + Σ_{k=2}^{N−1}(N−k−1) = (N−2)(N+1)/2 (input x_j crosses j−2 layers): in total
    (N² + 15N − 16)/2. With the skip connections the slide draws, carrying would be free and the count
    9(N−1) ≈ 9N; a strictly layered net pays O(N²) to carry the inputs forward. N = 1 is the 1-1 identity net.
    The Network stores dense matrices, ~N³/3 entries for the chain, hence N ≤ 256.
    """
    builder, output = _chain(_check_bits(n_bits, 256))
    return builder.network(output, dtype)


def tree_parity_network(n_bits, dtype="float64"):
    """XOR blocks in a balanced binary tree: ⌈log2 N⌉ hidden layers (depth ⌈log2 N⌉ + 1), N − 1 blocks, and an
    odd value out at a level carried up by one relu unit. Parameters: 6 per block on two inputs, 10 on two
    block outputs, 8 on a block output and a carry, carries 1–2, output 3: for N a power of two exactly
    8N − 7, and always at most 10(N−1) + 2⌈log2 N⌉ + 3 = O(N) (:func:`tree_parameter_formula`). The dense
    first layer has N² entries, hence N ≤ 2048."""
    builder, output = _tree(_check_bits(n_bits, 2048))
    return builder.network(output, dtype)


def memorizing_parity_network(n_bits_or_patterns, dtype="float64"):
    """The shallow memorizer: one hidden relu unit per stored pattern p_m (M unique bipolar rows), with
    weights p_m and bias −(N−1), so h_m = relu(p_m·x − N + 1) is 1 iff x = p_m and 0 otherwise (p_m·x ≤ N−2
    for any other x); output = Σ_m parity(p_m)·h_m with no bias. Exactly ±1 on the stored patterns and 0
    ("never seen it") elsewhere: memorizing does not generalise. An int N stores all M = 2^N patterns.
    Parameters M·N + M + M = M(N+2) (for N = 1 the hidden bias is 0: 2M)."""
    if isinstance(n_bits_or_patterns, (int, np.integer)) and not isinstance(n_bits_or_patterns, (bool, np.bool_)):
        patterns = all_bipolar_inputs(_check_bits(n_bits_or_patterns, 20))
    else:
        patterns = np.asarray(n_bits_or_patterns, dtype=np.float64)
        if patterns.ndim != 2 or patterns.size == 0 or not np.isin(patterns, (-1.0, 1.0)).all():
            raise ValueError("patterns must be a non-empty 2-D array of bipolar (-1/+1) rows")
        patterns = np.unique(patterns, axis=0)
    n_patterns, n_bits = patterns.shape
    net = Network([n_bits, n_patterns, 1], hidden_activation="relu", output="identity", dtype=dtype, seed=0)
    net.set_parameters([patterns, bipolar_parity(patterns)[None, :]],
                       [np.full(n_patterns, -(n_bits - 1.0)), np.zeros(1)])
    return net


def count_parameters(net):
    """Non-zero weights and biases of a network: the connections it uses."""
    return int(sum(np.count_nonzero(a) for a in list(net.weights) + list(net.biases)))


def depth(net):
    """Layers of connections: hidden layers + 1."""
    return len(net.layer_sizes) - 1


# ---------------------------------------------------------------------------- sizes by formula
def chain_parameter_formula(n_bits):
    """(N² + 15N − 16)/2 for N ≥ 2 (see :func:`chain_parity_network`), 1 for N = 1."""
    return 1 if n_bits == 1 else (n_bits * n_bits + 15 * n_bits - 16) // 2


def tree_parameter_formula(n_bits):
    """The tree's parameter count from the level recurrence, without building it: each value is a kind with
    a number of units and a constant (input: 1, 0; block output 2h1+2h2−1: 2, −1; carry c−1: 1, −1) and
    a unit costs its units-read plus 1 if its bias is non-zero."""
    kinds, total = [(1, 0.0)] * n_bits, 0
    while len(kinds) > 1:
        level = []
        for (units_a, const_a), (units_b, const_b) in zip(kinds[0:-1:2], kinds[1::2]):
            total += 2 * (units_a + units_b) + (const_a - const_b - 1 != 0) + (const_b - const_a - 1 != 0)
            level.append((2, -1.0))
        if len(kinds) % 2:
            units, const = kinds[-1]
            total += units + (const + 1 != 0)
            level.append((1, -1.0))
        kinds = level
    units, const = kinds[0]
    return total + units + (const != 0)


def memorizer_parameter_formula(n_bits, n_patterns=None):
    """M(N+2) non-zero parameters for M stored patterns (M = 2^N by default), 2M for N = 1."""
    m = 2 ** n_bits if n_patterns is None else n_patterns
    return m * (n_bits + 2) if n_bits > 1 else 2 * m


def _exact_on_all_inputs(net, n_bits):
    X = all_bipolar_inputs(n_bits)
    return bool(np.array_equal(net.forward(X)[:, 0], bipolar_parity(X)))


def parity_table(n_values=range(2, 65), build_limit=64, memorizer_build_limit=16, verify_limit=16,
                 memorizer_verify_limit=10, dtype="float64"):
    """One row per N: depth and parameter count of the chain, tree and memorizer next to their formulas.

    ``*_counted`` are :func:`count_parameters` of networks actually built (chain and tree for
    N ≤ build_limit, memorizer for N ≤ memorizer_build_limit; None above), ``*_formula`` come from the
    formulas without building anything. ``*_exact`` is True when the built net's output equals the parity
    exactly on all 2^N inputs (checked for N ≤ verify_limit, memorizer N ≤ memorizer_verify_limit; None when
    not checked). ``slide_9n`` is the slide's 9N. The memorizer stores M = 2^N patterns: for N = 64 that is
    1.8·10^19 hidden units, a count no memory holds.
    """
    rows = []
    for n in n_values:
        n = _check_bits(n)
        row = {"n_bits": n, "slide_9n": 9 * n}
        for name, make, formula in (("chain", _chain, chain_parameter_formula),
                                    ("tree", _tree, tree_parameter_formula)):
            row[f"{name}_parameters_formula"] = formula(n)
            row[f"{name}_depth"] = n if name == "chain" else math.ceil(math.log2(n)) + 1
            row[f"{name}_parameters_counted"] = row[f"{name}_carry_parameters"] = row[f"{name}_exact"] = None
            if n <= build_limit:
                builder, output = make(n)
                net = builder.network(output, dtype)
                row[f"{name}_depth"] = depth(net)
                row[f"{name}_parameters_counted"] = count_parameters(net)
                row[f"{name}_carry_parameters"] = builder.connections(output)["carry"]
                if n <= verify_limit:
                    row[f"{name}_exact"] = _exact_on_all_inputs(net, n)
        row.update(memorizer_depth=2, memorizer_patterns=2 ** n, memorizer_parameters_counted=None,
                   memorizer_parameters_formula=memorizer_parameter_formula(n), memorizer_exact=None)
        if n <= memorizer_build_limit:
            net = memorizing_parity_network(n, dtype)
            row["memorizer_parameters_counted"] = count_parameters(net)
            if n <= memorizer_verify_limit:
                row["memorizer_exact"] = _exact_on_all_inputs(net, n)
        rows.append(row)
    return rows


def _cell(value):
    if value is None or isinstance(value, bool):
        return {None: "–", True: "yes", False: "**NO**"}[value]
    return f"{value:.2e}" if isinstance(value, int) and value >= 10**7 else str(value)


def format_parity_table(rows):
    """The rows of :func:`parity_table` as a Markdown table, with a note on what is counted and what computed."""
    head = ["N", "chain depth", "chain params", "of which carry", "chain formula", "9N", "tree depth", "tree params",
            "tree formula", "memorizer M = 2^N", "memorizer params", "M(N+2)", "exact (chain/tree/memo)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        exact = "/".join(_cell(r[f"{k}_exact"]) for k in ("chain", "tree", "memorizer"))
        cells = [r["n_bits"], r["chain_depth"], r["chain_parameters_counted"], r["chain_carry_parameters"],
                 r["chain_parameters_formula"], r["slide_9n"], r["tree_depth"], r["tree_parameters_counted"],
                 r["tree_parameters_formula"], r["memorizer_patterns"], r["memorizer_parameters_counted"],
                 r["memorizer_parameters_formula"], exact]
        lines.append("| " + " | ".join(_cell(c) if not isinstance(c, str) else c for c in cells) + " |")
    notes = ("Parameters are non-zero weights and biases. *params* columns are counted on networks actually "
             "built ('–' = not built); *formula* columns are computed without building: chain (N²+15N−16)/2, "
             "tree by its level recurrence (8N−7 for N a power of two, ≤ 10N), memorizer M(N+2) with M = 2^N "
             "stored patterns. The chain's carry units move inputs forward through a layered net (no skip "
             "connections); without them it would be the slide's ≈9N. Exact = output equals parity (±1) on "
             "all 2^N inputs ('–' = not checked). Depth = layers of connections.")
    return "\n".join(lines) + "\n\n" + notes + "\n"
