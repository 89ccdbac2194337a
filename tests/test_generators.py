"""Tests of fastmlp.datasets' generators: parity and XOR truth tables, noisy sinusoid samples, and their
arguments."""
import numpy as np
import pytest

from fastmlp import datasets


@pytest.mark.parametrize("n_bits", [1, 2, 3, 6])
@pytest.mark.parametrize("bipolar", [True, False])
def test_parity_matches_brute_force(n_bits, bipolar):
    X, y = datasets.parity(n_bits, bipolar=bipolar)
    assert X.shape == (2**n_bits, n_bits) and y.shape == (2**n_bits, 1)
    assert X.dtype == np.float32 and y.dtype == np.float32
    on, off = (1, -1) if bipolar else (1, 0)
    for row, value in enumerate(range(2**n_bits)):
        bits = [(value >> (n_bits - 1 - k)) & 1 for k in range(n_bits)]
        assert X[row].tolist() == [on if b else off for b in bits]
        assert y[row, 0] == (on if sum(bits) % 2 else off)


def test_xor_is_two_bit_parity():
    X, y = datasets.xor()
    assert X.tolist() == [[-1, -1], [-1, 1], [1, -1], [1, 1]] and y.ravel().tolist() == [-1, 1, 1, -1]
    X, y = datasets.xor(bipolar=False)
    assert X.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]] and y.ravel().tolist() == [0, 1, 1, 0]


@pytest.mark.parametrize("n_bits", [0, 25, -1, 2.5, "3", True, None])
def test_parity_rejects_bad_n_bits(n_bits):
    with pytest.raises(ValueError, match="n_bits"):
        datasets.parity(n_bits)


def test_sinusoid_shapes_determinism_and_noise():
    X, y = datasets.sinusoid(20000, frequency=2.0, amplitude=3.0, noise=0.25, random_state=7)
    assert X.shape == y.shape == (20000, 1) and X.dtype == y.dtype == np.float32
    assert 0 <= X.min() and X.max() < 1
    X2, y2 = datasets.sinusoid(20000, frequency=2.0, amplitude=3.0, noise=0.25, random_state=7)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, datasets.sinusoid(20000, random_state=8)[0])
    residual = y - 3.0 * np.sin(2 * np.pi * 2.0 * X.astype(np.float64))
    assert abs(residual.std() - 0.25) < 0.01 and abs(residual.mean()) < 0.01
    X, y = datasets.sinusoid(50, x_range=(-2, 3), noise=0, phase=0.5, random_state=np.random.default_rng(1))
    assert -2 <= X.min() and X.max() < 3
    np.testing.assert_allclose(y, np.sin(2 * np.pi * X.astype(np.float64) + 0.5), atol=1e-5)


@pytest.mark.parametrize("kwargs, word", [
    (dict(n=0), "n must"), (dict(n=2.5), "n must"), (dict(n=5, noise=-1), "noise"),
    (dict(n=5, x_range=(1, 0)), "x_range"), (dict(n=5, x_range="ab"), "x_range"),
    (dict(n=5, frequency=float("nan")), "frequency"),
])
def test_sinusoid_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        datasets.sinusoid(**kwargs)


def test_parity_bipolar_must_be_a_bool():
    with pytest.raises(ValueError, match="bipolar must be True or False"):
        datasets.parity(3, bipolar="no")


@pytest.mark.parametrize("kwargs", [dict(amplitude=1e300), dict(noise=1e39), dict(x_range=(0.0, 1e300)),
                                    dict(frequency=1e308)])
def test_sinusoid_samples_that_overflow_float32_are_refused(kwargs):
    with pytest.raises(ValueError, match="not finite numbers in float32"):
        datasets.sinusoid(100, random_state=0, **kwargs)
