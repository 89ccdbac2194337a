"""The gathered products (cpp/gathered_products.h), which the split step of a small mini-batch runs on the rows of X
where they lie: against their NumPy twins in float64 and float32, in each vector width this CPU has (32 bytes, and
64 on an AVX-512 CPU), over every remainder of their register tiles (rows modulo 3 and 6, units modulo 4, columns
modulo the vectors and 4-vector blocks of either dtype and width), rows by index and in order, repeated and
out-of-order rows; bad arguments raise, an index that shares memory with W cannot steer the update; and, through
the network, a bad value in X is still named by its row while a row whose products only overflow is not taken for
one."""
import platform

import numpy as np
import pytest

import fastmlp
from fastmlp import _core, reference as ref

WIDEST = int(fastmlp.build_info()["gathered_vector_bytes"])
WIDTHS = [32, pytest.param(64, marks=pytest.mark.skipif(WIDEST < 64, reason="this CPU has no 512-bit vectors"))]

# rows m: 1..13 (3- and 6-row tiles and their remainders); units h: 1..9 (4-unit tiles); columns d: below, at and
# past a vector and a block of 4 vectors (float32: 8 and 32 values in 32-byte vectors, 16 and 64 in 64-byte ones;
# float64 half as many), and the benchmark's 784; then W past one 512 KiB block of its rows (kGatheredBlockBytes):
# 200 rows of 784 in blocks of 108 + 92 floats or 72 + 72 + 56 doubles, and rows of 20,000 in blocks of 12 + 2
SHAPES = [(1, 1, 1), (2, 5, 7), (3, 4, 8), (4, 3, 9), (5, 6, 31), (6, 7, 32), (7, 8, 33), (7, 9, 47), (32, 32, 784),
          (17, 13, 100), (8, 4, 15), (9, 5, 16), (10, 6, 17), (11, 9, 63), (12, 8, 64), (13, 3, 65), (12, 4, 129),
          (30, 200, 784), (5, 14, 20000)]


def tol(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return request.param


def operands(dtype, m, h, d, indexed, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((3 * m + 2, d)).astype(dtype)
    rows = rng.choice(X.shape[0], m, replace=m > X.shape[0]).astype(np.int64) if indexed else None
    if not indexed:
        X = X[:m].copy()
    W = (rng.standard_normal((h, d)) / np.sqrt(d)).astype(dtype)
    delta = rng.standard_normal((m, h)).astype(dtype)
    return X, rows, W, delta


@pytest.mark.parametrize("vector_bytes", WIDTHS)
@pytest.mark.parametrize("m,h,d", SHAPES)
@pytest.mark.parametrize("indexed", [True, False], ids=["rows", "in-order"])
def test_gathered_dense_forward_matches_the_reference(dtype, m, h, d, indexed, vector_bytes):
    X, rows, W, _ = operands(dtype, m, h, d, indexed)
    want = ref.gathered_dense_forward(X.astype(np.float64), rows, W.astype(np.float64))
    got = _core.gathered_dense_forward(X, rows, W, vector_bytes=vector_bytes)
    assert got.dtype == dtype and got.shape == (m, h)
    np.testing.assert_allclose(got, want, **tol(dtype))


@pytest.mark.parametrize("vector_bytes", WIDTHS)
@pytest.mark.parametrize("m,h,d", SHAPES)
@pytest.mark.parametrize("indexed", [True, False], ids=["rows", "in-order"])
def test_gathered_weight_update_matches_the_reference(dtype, m, h, d, indexed, vector_bytes):
    X, rows, W, delta = operands(dtype, m, h, d, indexed, seed=1)
    want = W.astype(np.float64)
    ref.gathered_weight_update(want, delta.astype(np.float64), X.astype(np.float64), rows, -0.3)
    _core.gathered_weight_update(W, delta, X, rows, -0.3, vector_bytes=vector_bytes)
    np.testing.assert_allclose(W, want, **tol(dtype))


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (empty off Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return set()


AVX512_V4 = {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}  # what x86-64-v4 adds to v3


@pytest.mark.skipif(platform.system() != "Linux" or platform.machine() != "x86_64"
                    or not fastmlp.build_info()["compiler"].startswith("gcc "),
                    reason="the 512-bit kernels are built by GCC on x86-64 Linux only")
def test_the_widest_width_is_what_the_cpu_reports():
    gcc_major = int(fastmlp.build_info()["compiler"].split()[1].split(".")[0])
    expect_64 = gcc_major >= 12 and AVX512_V4 <= cpu_flags()
    assert WIDEST == (64 if expect_64 else 32)


def test_the_blas_width_is_what_its_core_says():
    """blas_vector_bytes, against which the own kernels' width decides which products they take: 64 for OpenBLAS's
    AVX-512 cores, 32 for its others (OPENBLAS_CORETYPE=Haswell among them); MKL tells it by its code path."""
    info = fastmlp.build_info()
    core = info["blas_config"].rsplit("core=", 1)[-1].lower() if "core=" in info["blas_config"] else None
    if core is not None:
        assert int(info["blas_vector_bytes"]) == (64 if core in ("skylakex", "cooperlake", "sapphirerapids") else 32)
    else:
        assert info["blas_vector_bytes"] in ("32", "64")


@pytest.mark.skipif(WIDEST < 64, reason="this CPU has no 512-bit vectors")
def test_each_width_runs_its_own_kernel():
    """The forward product's dot products are summed in 8 or in 16 lanes, which round differently: the two widths'
    results differ in their last bits, so a vector_bytes that changed nothing would show. (The update adds each
    column over the rows in the same order in either width: its results are the same to the bit.)"""
    X, rows, W, _ = operands(np.float32, 32, 32, 784, True)
    z32 = _core.gathered_dense_forward(X, rows, W, vector_bytes=32)
    z64 = _core.gathered_dense_forward(X, rows, W, vector_bytes=64)
    assert not np.array_equal(z32, z64)
    np.testing.assert_allclose(z32, z64, rtol=1e-5, atol=1e-5)


def test_the_default_width_is_the_widest_and_only_widths_the_cpu_has_are_taken():
    X, rows, W, delta = operands(np.float32, 7, 5, 70, True)
    widest = _core.gathered_dense_forward(X, rows, W, vector_bytes=WIDEST)
    np.testing.assert_array_equal(_core.gathered_dense_forward(X, rows, W), widest)
    for bad in (0, 16, 48, 128):
        with pytest.raises(ValueError, match="vector_bytes must be None, 32 or 64"):
            _core.gathered_dense_forward(X, rows, W, vector_bytes=bad)
        with pytest.raises(ValueError, match="vector_bytes must be None, 32 or 64"):
            _core.gathered_weight_update(W, delta, X, rows, 1.0, vector_bytes=bad)
    if WIDEST < 64:
        with pytest.raises(ValueError, match="has vectors of 32 bytes at most"):
            _core.gathered_dense_forward(X, rows, W, vector_bytes=64)


def test_a_repeated_row_counts_as_often_as_it_is_named():
    X = np.arange(12, dtype=np.float64).reshape(3, 4)
    W = np.eye(4)
    rows = np.array([2, 0, 2], np.int64)
    np.testing.assert_array_equal(_core.gathered_dense_forward(X, rows, W), X[rows])
    delta = np.ones((3, 4))
    _core.gathered_weight_update(W, delta, X, rows, 1.0)
    np.testing.assert_array_equal(W, np.eye(4) + 2 * X[2] + X[0])


def test_bad_arguments_raise():
    X, rows, W, delta = operands(np.float32, 4, 3, 5, True)
    with pytest.raises(TypeError):
        _core.gathered_dense_forward(X, rows.astype(np.int32), W)  # no silent conversion of the index
    with pytest.raises(TypeError):
        _core.gathered_dense_forward(X, rows, W.astype(np.float64))
    for bad in (np.array([0, X.shape[0]], np.int64), np.array([-1], np.int64)):
        with pytest.raises(ValueError, match=r"is not a row of X"):
            _core.gathered_dense_forward(X, bad, W)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        _core.gathered_dense_forward(X, np.zeros((2, 2), np.int64), W)
    with pytest.raises(ValueError, match="as many columns"):
        _core.gathered_dense_forward(X, rows, W[:, :4].copy())
    with pytest.raises(ValueError, match="do not fit together"):
        _core.gathered_weight_update(W, delta[:3].copy(), X, rows, 1.0)
    with pytest.raises(ValueError, match="share memory"):
        _core.gathered_weight_update(X, np.ones((4, X.shape[0]), np.float32), X, rows, 1.0)
    buffer = np.zeros(delta.size + W.size, np.float32)
    with pytest.raises(ValueError, match="share memory"):  # W's last values are delta's first
        _core.gathered_weight_update(buffer[:W.size].reshape(W.shape), buffer[W.size - 1:][:delta.size].reshape(
            delta.shape), X, rows, 1.0)
    # side by side in one buffer, sharing no byte: accepted
    _core.gathered_weight_update(buffer[:W.size].reshape(W.shape), buffer[W.size:].reshape(delta.shape), X, rows, 1.0)
    with pytest.raises(ValueError, match="share memory"):  # W a part of X
        _core.gathered_weight_update(X[1:4], np.ones((4, 3), np.float32), X, rows, 1.0)
    frozen = W.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError):
        _core.gathered_weight_update(frozen, delta, X, rows, 1.0)


def test_an_index_in_ws_own_memory_is_read_before_the_update_changes_it():
    """rows viewing the same bytes as W: the update writes W while it still goes on reading rows of X by index."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 40))
    W = np.zeros((3, 40))
    rows = W.reshape(-1)[:4].view(np.int64)  # four zeros: valid indices, until the update writes W
    want = W.copy()
    ref.gathered_weight_update(want, np.ones((4, 3)), X, np.zeros(4, np.int64), 1e30)
    _core.gathered_weight_update(W, np.ones((4, 3)), X, rows, 1e30)
    np.testing.assert_allclose(W, want, rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
# in a whole vector and in the tail past the vectors, of both dtypes and widths (a 64-byte vector holds 16 floats)
@pytest.mark.parametrize("d,column", [(13, 0), (13, 8), (13, 12), (40, 0), (40, 17), (40, 39)])
def test_a_bad_value_anywhere_in_a_row_is_named(threads, dtype, value, d, column):
    threads(2)
    net = fastmlp.Network((d, 64, 4), dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (100, d)).astype(dtype)
    y = rng.integers(0, 4, 100).astype(np.int32)
    X[57, column] = value
    before = net.get_flat()
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity \(row 57\); parameters were restored"):
        net.train_epoch(X, y, 32)
    np.testing.assert_array_equal(net.get_flat(), before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_row_whose_products_overflow_is_not_taken_for_a_bad_value(threads, dtype):
    """With every weight 1, a row of the largest finite values sums past the largest float: its products are inf,
    yet the row itself is finite, so the step goes on (the units saturate, δ1 = 0, nothing else changes)."""
    threads(2)
    net = fastmlp.Network((13, 64, 4), dtype=dtype, seed=0)
    W1 = net.weights[0]
    flat = net.get_flat()
    flat[:W1.size] = 1.0
    net.set_flat(flat)
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 1, (64, 13)).astype(dtype)
    X[5] = np.finfo(dtype).max
    y = rng.integers(0, 4, 64).astype(np.int32)
    loss = net.train_epoch(X, y, 32, shuffle=False)
    assert np.isfinite(loss) and np.all(np.isfinite(net.get_flat()))
