"""Products threaded by fastmlp (cpp/gemm.cpp): the team splits C into blocks of columns (or of rows when op(A) is
the larger operand), one single-threaded BLAS call per block, or where asked one call of fastmlp's own kernels for
the products they compute. Each product must agree with NumPy at every thread count, including a thread count larger
than the number of blocks, and repeat bit for bit at the same count."""
import numpy as np
import pytest

import fastmlp
from fastmlp import _core
from fastmlp import reference as ref

# (samples, n_in, n_out): Z = X·Wᵀ is (samples, n_out) with k = n_in; the backward products are dW = dZᵀ·X
# (n_out, n_in) with k = samples and dX = dZ·W (samples, n_in) with k = n_out. All are past the split threshold
# (2^18 multiply-adds) and none is a multiple of the 16-wide blocks.
SHAPES = [
    (301, 157, 203),   # C wider than tall and taller than wide among the three products
    (37, 1001, 45),    # few rows: splits columns
    (1003, 33, 45),    # few columns: splits rows
    (700, 900, 20),    # dZ·W with k = 20 (a 10-class output layer's size)
    (64, 500, 301),    # n_out >= samples: dW splits its rows as the forward product split W's (Split::rows)
]
# The own kernels (own_kernels=True, Products::own) take the forward product X·Wᵀ and dW = dZᵀ·X where the rows
# they read are whole 64-byte vectors (n_in a multiple of 16 floats or 8 doubles; transposed W: n_out): these shapes
# split by rows and by columns, with tile remainders, and past a 512 KiB block of W's rows (784 × 200 floats)
OWN_SHAPES = [(301, 160, 203), (37, 1008, 45), (1003, 784, 200), (64, 512, 301), (700, 96, 48)]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}
# Whether fastmlp splits the products itself (the vendored OpenBLAS or MKL, with OpenMP): only then can a product
# run in the own kernels; a system BLAS threads and runs them all.
SPLIT_GEMM = fastmlp.build_info()["blas"] != "system" and fastmlp.build_info()["openmp"].startswith("yes")


@pytest.fixture
def thread_count():
    before = _core.get_num_threads()
    yield _core.set_num_threads
    _core.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("samples, n_in, n_out, own",
                         [s + (False,) for s in SHAPES] + [s + (True,) for s in OWN_SHAPES])
@pytest.mark.parametrize("transpose_w", [False, True])
def test_split_products_match_numpy_at_every_thread_count(thread_count, dtype, samples, n_in, n_out, own,
                                                          transpose_w):
    rng = np.random.default_rng(samples)
    X = rng.standard_normal((samples, n_in)).astype(dtype)
    W = rng.standard_normal((n_in, n_out) if transpose_w else (n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    dZ = rng.standard_normal((samples, n_out)).astype(dtype)
    X64, W64, b64, dZ64 = (a.astype(np.float64) for a in (X, W, b, dZ))
    want_z = ref.dense_forward(X64, W64, b64, "identity", transpose_w)
    want_dw, want_db, want_dx = ref.dense_backward(dZ64, X64, W64, transpose_w)
    scale = np.sqrt(max(n_in, samples, n_out))  # sums of k products of unit normals grow like √k
    for threads in (1, 2, 3, 7):  # 7: more threads than blocks in every split
        thread_count(threads)
        runs = [(_core.dense_forward(X, W, b, "identity", transpose_w, own_kernels=own),) +
                _core.dense_backward(dZ, X, W, transpose_w, own_kernels=own) for _ in range(2)]
        for got, again in zip(runs[0], runs[1]):
            np.testing.assert_array_equal(again, got)
        z, dw, db, dx = runs[0]
        for got, want in ((z, want_z), (dw, want_dw), (db, want_db), (dx, want_dx)):
            assert got.dtype == dtype and got.shape == want.shape
            np.testing.assert_allclose(got / scale, want / scale, **TOL[dtype])
        if own and SPLIT_GEMM and not transpose_w:
            # The own kernels ran: their sums, in the same order however a product is split, bit for bit. The forward
            # product in every split; dW only on one thread (a split by columns reads rows of X in part, which the
            # kernels do not, and goes to the BLAS).
            np.testing.assert_array_equal(z, _core.gathered_dense_forward(X, None, W) + b)
            if threads == 1:
                want_own = np.zeros_like(W)
                _core.gathered_weight_update(want_own, dZ, X, None, 1.0)
                np.testing.assert_array_equal(dw, want_own)


def test_a_product_too_small_to_split_is_the_same_at_any_thread_count(thread_count):
    rng = np.random.default_rng(0)
    X, W, b = (rng.standard_normal(s).astype(np.float32) for s in ((20, 30), (10, 30), (10,)))
    results = []
    for threads in (1, 2, 3):
        thread_count(threads)
        results.append(_core.dense_forward(X, W, b, "identity"))
    for got in results[1:]:
        np.testing.assert_array_equal(got, results[0])
