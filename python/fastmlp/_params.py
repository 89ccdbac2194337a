"""What the native :class:`fastmlp.Network` and :class:`fastmlp.reference.Network` share: argument
checks, the parameter size table, the initialisation and the shuffle.

The flat parameter vector is laid out as every weight matrix first (row-major, in layer order), then
every bias vector. A tied autoencoder stores one matrix (n_hidden, n_in); its decoder uses it transposed.
The native core computes the same table (``_core`` exposes it, and a test checks they agree).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "identity")
OUTPUTS = ("softmax", "sigmoid", "identity", "tanh", "relu")
LOSSES = ("cross_entropy", "binary_cross_entropy", "squared_error")
DTYPES = ("float32", "float64")
MAX_LAYER_SIZE = 2**31 - 1
_MASK64 = (1 << 64) - 1


def resolve_loss(output, loss):
    """The loss name for an output activation: cross-entropy for softmax, binary cross-entropy for
    sigmoid and squared error otherwise, unless ``loss`` names one explicitly."""
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
    if loss is None:
        return {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(output, "squared_error")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES} or None, got {loss!r}")
    if loss == "cross_entropy" and output != "softmax":
        raise ValueError(f"loss='cross_entropy' needs output='softmax', got output={output!r}")
    if loss == "binary_cross_entropy" and output != "sigmoid":
        raise ValueError(f"loss='binary_cross_entropy' needs output='sigmoid', got output={output!r}")
    return loss


def check_network_args(hidden_activation, sparsity_target, sparsity_weight, weight_decay, dtype):
    """Validate the scalar constructor arguments shared by both Network classes; returns the dtype."""
    if hidden_activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"hidden_activation must be one of {HIDDEN_ACTIVATIONS}, got {hidden_activation!r}")
    for name, value in (("sparsity_weight", sparsity_weight), ("weight_decay", weight_decay)):
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if sparsity_weight > 0:
        if sparsity_target is None or not isinstance(sparsity_target, numbers.Real) \
                or not 0 < sparsity_target < 1:
            raise ValueError(f"sparsity_weight > 0 needs sparsity_target strictly between 0 and 1, "
                             f"got {sparsity_target!r}")
        if hidden_activation != "sigmoid":
            raise ValueError("the KL sparsity penalty needs hidden_activation='sigmoid' (mean activations "
                             f"must lie in (0, 1)), got {hidden_activation!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if dt.name not in DTYPES:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return dt


class ParameterLayout:
    """The size table of the flat parameter vector: weight blocks first, then biases."""

    def __init__(self, layer_sizes, tied_weights=False):
        if isinstance(layer_sizes, (str, bytes)) or not hasattr(layer_sizes, "__len__"):
            raise TypeError(f"layer_sizes must be a sequence of ints, got {layer_sizes!r}")
        sizes = []
        for s in layer_sizes:
            if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(f"layer_sizes must be positive integers, got {list(layer_sizes)!r}")
            if s > MAX_LAYER_SIZE:  # the core's dimensions are 32-bit ints (BLAS's too)
                raise ValueError(f"layer_sizes entries must be at most {MAX_LAYER_SIZE}, got {s}")
            sizes.append(int(s))
        if len(sizes) < 2:
            raise ValueError(f"layer_sizes needs at least an input and an output size, got {sizes!r}")
        if tied_weights and (len(sizes) != 3 or sizes[0] != sizes[2]):
            raise ValueError("tied_weights needs an autoencoder with one hidden layer, "
                             f"layer_sizes (n_in, n_hidden, n_in), got {sizes!r}")
        self.layer_sizes = tuple(sizes)
        self.n_layers = len(sizes) - 1
        # weight_block[l]: which stored matrix layer l uses; transposed[l]: whether it uses it as Wᵀ
        self.weight_block = [0, 0] if tied_weights else list(range(self.n_layers))
        self.transposed = [False, True] if tied_weights else [False] * self.n_layers
        self.weight_shapes = [(sizes[l + 1], sizes[l]) for l in range(self.n_layers)][:len(set(self.weight_block))]
        self.weight_offsets, offset = [], 0
        for rows, cols in self.weight_shapes:
            self.weight_offsets.append(offset)
            offset += rows * cols
        self.n_weights = offset
        self.bias_offsets = []
        for l in range(self.n_layers):
            self.bias_offsets.append(offset)
            offset += sizes[l + 1]
        self.size = offset

    def weight_views(self, flat):
        return [flat[o:o + r * c].reshape(r, c) for o, (r, c) in zip(self.weight_offsets, self.weight_shapes)]

    def bias_views(self, flat):
        return [flat[o:o + self.layer_sizes[l + 1]] for l, o in enumerate(self.bias_offsets)]


def _seed_sequence_int(seed):
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise ValueError(f"seed must be None or a non-negative int, got {seed!r}")
    return np.random.default_rng(seed)


def init_parameters(layout, hidden_activation, dtype, seed):
    """(θ, shuffle_state): Glorot-uniform weights U(±√(f/(fan_in+fan_out))), f = 2 for sigmoid and 6
    otherwise (scikit-learn's choice), zero biases, and the 64-bit state of the epoch shuffle."""
    rng = _seed_sequence_int(seed)
    theta = np.zeros(layout.size, dtype=dtype)
    factor = 2.0 if hidden_activation == "sigmoid" else 6.0
    for view, (rows, cols) in zip(layout.weight_views(theta), layout.weight_shapes):
        bound = math.sqrt(factor / (rows + cols))
        view[:] = rng.uniform(-bound, bound, size=(rows, cols))
    return theta, int(rng.integers(0, 2**63))


def _splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


def shuffle_permutation(n, state):
    """(permutation of range(n), new state): Fisher-Yates driven by splitmix64, j = ⌊u·(i+1)/2⁶⁴⌋.
    The native epoch loop draws exactly the same permutation from the same state."""
    order = np.arange(n, dtype=np.int64)
    for i in range(n - 1, 0, -1):
        state, u = _splitmix64(state)
        j = (u * (i + 1)) >> 64
        order[i], order[j] = order[j], order[i]
    return order, state
