"""Generators for the lecture's small problems: N-bit parity, XOR and a noisy sinusoid.

All return ``(X, y)`` as float32 arrays with one sample per row and ``y`` of shape (n, 1), the shape of
a one-output network's predictions.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["parity", "xor", "sinusoid", "MAX_PARITY_BITS"]

#: Largest N accepted by :func:`parity`: 2**24 rows of 24 float32 values already take 1.6 GB.
MAX_PARITY_BITS = 24


def parity(n_bits: int, bipolar: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All 2**n_bits inputs of the N-bit parity problem and their parity.

    Row i of ``X`` (shape (2**N, N)) is the binary representation of i, most significant bit first,
    with bit 1 written as +1 and bit 0 as -1 when ``bipolar``, else as 1 and 0. ``y`` (shape (2**N, 1))
    is +1 if the row has an odd number of 1 bits (+1 entries) and -1 otherwise when ``bipolar``,
    else 1 (odd) and 0 (even).

    Raises:
        ValueError: ``n_bits`` is not an int in 1..24, or ``bipolar`` is not a bool.
    """
    if not isinstance(bipolar, (bool, np.bool_)):  # "no" would read as true
        raise ValueError(f"bipolar must be True or False, got {bipolar!r}")
    if isinstance(n_bits, bool) or not isinstance(n_bits, numbers.Integral):
        raise ValueError(f"n_bits must be an int from 1 to {MAX_PARITY_BITS}, got {n_bits!r}")
    n_bits = int(n_bits)
    if not 1 <= n_bits <= MAX_PARITY_BITS:
        raise ValueError(f"n_bits must be from 1 to {MAX_PARITY_BITS}, got {n_bits}")
    rows = np.arange(2**n_bits, dtype=np.int32)
    X = np.empty((rows.size, n_bits), dtype=np.float32)
    odd = np.zeros(rows.size, dtype=np.int32)
    for column in range(n_bits):  # column by column keeps the temporaries at one column's size
        bit = (rows >> (n_bits - 1 - column)) & 1
        X[:, column] = bit
        odd ^= bit
    y = odd.astype(np.float32).reshape(-1, 1)
    if bipolar:
        X = 2 * X - 1
        y = 2 * y - 1
    return X, y


def xor(bipolar: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The four-point XOR problem: ``parity(2, bipolar)``."""
    return parity(2, bipolar=bipolar)


def sinusoid(n: int, *, frequency: float = 1.0, amplitude: float = 1.0, phase: float = 0.0,
             x_range: tuple[float, float] = (0.0, 1.0), noise: float = 0.1,
             random_state: int | np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy samples of ``y = amplitude * sin(2*pi*frequency*x + phase) + noise * N(0, 1)``.

    ``x`` is drawn uniformly from ``[x_range[0], x_range[1])`` (unsorted). ``X`` and ``y`` have shape
    (n, 1) and dtype float32. ``random_state`` is a seed or a :class:`numpy.random.Generator`; the same
    seed gives the same samples. ``noise=0`` gives the noise-free function.

    Raises:
        ValueError: ``n`` is not a positive int, ``noise`` is negative, ``x_range`` is not an
            increasing pair, a parameter is not finite, or the samples would overflow float32.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    low, high = _check_range(x_range)
    for label, value in (("frequency", frequency), ("amplitude", amplitude), ("phase", phase), ("noise", noise)):
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{label} must be a finite number, got {value!r}")
    if noise < 0:
        raise ValueError(f"noise is a standard deviation and must be >= 0, got {noise!r}")
    rng = np.random.default_rng(random_state)
    x = rng.uniform(low, high, size=(int(n), 1))
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, naming the cause
        y = amplitude * np.sin(2 * np.pi * frequency * x + phase) + noise * rng.standard_normal((int(n), 1))
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
    if not (np.isfinite(x32).all() and np.isfinite(y32).all()):
        raise ValueError(f"the samples are not finite numbers in float32 (largest {np.finfo(np.float32).max:.3g}; "
                         f"2*pi*frequency*x + phase must stay finite too): x_range={x_range!r}, "
                         f"amplitude={amplitude!r}, noise={noise!r}, frequency={frequency!r}, phase={phase!r}")
    return x32, y32


def _check_range(x_range) -> tuple[float, float]:
    try:
        if isinstance(x_range, (str, bytes)):
            raise TypeError
        low, high = (float(v) for v in x_range)
    except (TypeError, ValueError):
        raise ValueError(f"x_range must be a pair (low, high) of numbers, got {x_range!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"x_range must satisfy low < high with finite values, got {x_range!r}")
    return low, high
