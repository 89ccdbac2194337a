"""Every native kernel against its NumPy twin in reference.py, in float64 (1e-10) and float32 (1e-5)."""
import numpy as np
import pytest

from fastmlp import _core, _validation, reference as ref

ACTS = ["identity", "sigmoid", "tanh", "relu"]
SHAPES = [(1, 1), (1, 7), (5, 1), (17, 13), (64, 33)]


def tol(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def ref64(a):
    return a.astype(np.float64)


def one_hot(rng, n, k, dtype):
    Y = np.zeros((n, k), dtype)
    Y[np.arange(n), rng.integers(0, k, n)] = 1
    return Y


@pytest.fixture(params=[np.float64, np.float32], ids=["f64", "f32"])
def dtype(request):
    return request.param


@pytest.mark.parametrize("shape", SHAPES + [(300, 200)])  # 60,000 elements: the threaded pass too
@pytest.mark.parametrize("act", ACTS + ["softmax"])
def test_activation_forward(dtype, shape, act):
    Z = rand(np.random.default_rng(0), shape, dtype, 3)
    want = ref.activation_forward(ref64(Z), act)
    np.testing.assert_allclose(_core.activation_forward(Z, act), want, **tol(dtype))
    if act == "softmax":
        with pytest.raises(ValueError, match="softmax"):
            _core.activation_forward(Z, act, with_sums=True)
        return
    got, sums = _core.activation_forward(Z, act, with_sums=True)  # and the column sums, same pass
    np.testing.assert_allclose(got, want, **tol(dtype))
    scale = np.abs(want).sum(axis=0).max()
    np.testing.assert_allclose(sums, want.sum(axis=0), rtol=tol(dtype)["rtol"], atol=tol(dtype)["rtol"] * scale)


@pytest.mark.parametrize("shape", SHAPES + [(300, 200)])  # 60,000 elements: the threaded pass too
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("with_unit_grad", [False, True])
def test_activation_backward(dtype, shape, act, with_unit_grad):
    rng = np.random.default_rng(1)
    A = ref.activation_forward(rand(rng, shape, np.float64), act).astype(dtype)
    dA = rand(rng, shape, dtype)
    g = rand(rng, shape[1], dtype) if with_unit_grad else None
    got = _core.activation_backward(dA, A, act, g)
    want = ref.activation_backward(ref64(dA), ref64(A), act, None if g is None else ref64(g))
    np.testing.assert_allclose(got, want, **tol(dtype))
    got, sums = _core.activation_backward(dA, A, act, g, with_sums=True)  # and the bias gradient, same pass
    np.testing.assert_allclose(got, want, **tol(dtype))
    scale = np.abs(want).sum(axis=0).max()  # a float32 sum of n terms is good to ~1e-7·Σ|terms|
    np.testing.assert_allclose(sums, want.sum(axis=0), rtol=tol(dtype)["rtol"], atol=tol(dtype)["rtol"] * scale)


def test_softmax_is_stable_for_extreme_logits(dtype):
    Z = np.array([[1e4, 0, -1e4], [-1e4, -1e4, -1e4]], dtype)
    P = _core.softmax_forward(Z)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]], **tol(dtype))


@pytest.mark.parametrize("shape", [(21, 15), (33, 2), (47, 10), (3001, 10)])  # 3001 rows: the threaded pass
def test_short_softmax_rows_in_lane_blocks(dtype, shape, threads):
    # rows shorter than a vector go 16 at a time, one per vector lane: whole blocks, a last partial block, a
    # thread's share that does not start on a block (2 threads: rows 0..1500 and 1501..3000 of 3001); a NaN or
    # inf row stays in its own lane, in a whole block, in a partial one and on either side of the threads' split
    threads(2)
    rng = np.random.default_rng(7)
    Z = rand(rng, shape, dtype, 4)
    Y = one_hot(rng, shape[0], shape[1], dtype)
    n = shape[0]
    bad = sorted({5, 17, n // 2, n // 2 + 1, n - 1})
    Z[bad, 0] = np.nan
    Z[17, -1], Z[n - 1, -1], Z[3, 1] = np.inf, np.inf, -np.inf
    loss, P = _core.softmax_cross_entropy_forward(Z, Y)
    assert np.isnan(loss)
    for got in (P, _core.softmax_forward(Z)):
        assert np.isnan(got[bad]).all()
        good = np.setdiff1d(np.arange(n), bad)
        np.testing.assert_allclose(got[good], ref.softmax_forward(ref64(Z[good])), **tol(dtype))
    good = np.setdiff1d(np.arange(n), bad + [3])  # row 3's −inf logit costs inf if it is its class
    loss, P = _core.softmax_cross_entropy_forward(Z[good], Y[good])  # partial blocks of other sizes
    want_loss, want_P = ref.softmax_cross_entropy_forward(ref64(Z[good]), ref64(Y[good]))
    np.testing.assert_allclose(loss, want_loss, **tol(dtype))
    np.testing.assert_allclose(P, want_P, **tol(dtype))


@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_backward(dtype, shape):
    rng = np.random.default_rng(2)
    Yhat = ref.softmax_forward(rand(rng, shape, np.float64)).astype(dtype)
    dY = rand(rng, shape, dtype)
    np.testing.assert_allclose(_core.softmax_backward(dY, Yhat), ref.softmax_backward(ref64(dY), ref64(Yhat)),
                               **tol(dtype))


@pytest.mark.parametrize("n,n_in,n_out", [(1, 1, 1), (3, 5, 2), (33, 17, 9), (128, 64, 1)])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("transposed", [False, True])
def test_dense_forward_backward(dtype, n, n_in, n_out, act, transposed):
    rng = np.random.default_rng(3)
    X, dZ = rand(rng, (n, n_in), dtype), rand(rng, (n, n_out), dtype)
    W = rand(rng, (n_in, n_out) if transposed else (n_out, n_in), dtype)
    b = rand(rng, n_out, dtype)
    np.testing.assert_allclose(_core.dense_forward(X, W, b, act, transposed),
                               ref.dense_forward(ref64(X), ref64(W), ref64(b), act, transposed), **tol(dtype))
    for got, want in zip(_core.dense_backward(dZ, X, W, transposed),
                         ref.dense_backward(ref64(dZ), ref64(X), ref64(W), transposed)):
        np.testing.assert_allclose(got, want, **tol(dtype))


@pytest.mark.parametrize("shape", SHAPES)
def test_losses(dtype, shape):
    rng = np.random.default_rng(4)
    Z = rand(rng, shape, dtype, 4)
    Y = one_hot(rng, shape[0], shape[1], dtype)
    loss, P = _core.softmax_cross_entropy_forward(Z, Y)
    want_loss, want_P = ref.softmax_cross_entropy_forward(ref64(Z), ref64(Y))
    np.testing.assert_allclose(loss, want_loss, **tol(dtype))
    np.testing.assert_allclose(P, want_P, **tol(dtype))
    T = rng.uniform(size=shape).astype(dtype)
    loss, P = _core.sigmoid_binary_cross_entropy_forward(Z, T)
    want_loss, want_P = ref.sigmoid_binary_cross_entropy_forward(ref64(Z), ref64(T))
    np.testing.assert_allclose(loss, want_loss, **tol(dtype))
    np.testing.assert_allclose(P, want_P, **tol(dtype))
    np.testing.assert_allclose(_core.squared_error_forward(Z, T), ref.squared_error_forward(ref64(Z), ref64(T)),
                               **tol(dtype))
    for got, want in zip(_core.output_error_backward(P, T), ref.output_error_backward(ref64(P), ref64(T))):
        np.testing.assert_allclose(got, want, **tol(dtype))


def test_cross_entropy_losses_are_finite_for_extreme_logits(dtype):
    Z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype)
    Y = np.array([[0, 1], [0, 1]], dtype)
    loss, _ = _core.softmax_cross_entropy_forward(Z, Y)
    np.testing.assert_allclose(loss, 1e4, rtol=1e-6)
    loss, _ = _core.sigmoid_binary_cross_entropy_forward(Z, Y)
    np.testing.assert_allclose(loss, 1e4, rtol=1e-6)


@pytest.mark.parametrize("shape", [(3, 1000), (300, 16)])
def test_losses_on_wide_and_vector_width_rows(dtype, shape):
    # rows longer than a vector and whole vectors: the row maximum and sums are simd reductions
    rng = np.random.default_rng(6)
    Z = rand(rng, shape, dtype, 6)
    Z[0, -1] = 40  # the maximum in the last lane
    Y = one_hot(rng, shape[0], shape[1], dtype)
    for kernel, targets in (("softmax_cross_entropy_forward", Y), ("sigmoid_binary_cross_entropy_forward",
                                                                    rng.uniform(size=shape).astype(dtype))):
        loss, P = getattr(_core, kernel)(Z, targets)
        want_loss, want_P = getattr(ref, kernel)(ref64(Z), ref64(targets))
        np.testing.assert_allclose(loss, want_loss, **tol(dtype))
        np.testing.assert_allclose(P, want_P, **tol(dtype))


def test_binary_cross_entropy_term_by_term_over_the_whole_float_range():
    # float32 computes log(1 + e^−|z|) with its own polynomial: each term within 1e-7 of float64's
    z = np.concatenate([np.linspace(-30, 30, 1201), [0.0, 1e-30, 0.88137, -0.88137, 87.5, -87.5, 1e4, -1e4]])
    got = [_core.sigmoid_binary_cross_entropy_forward(np.float32([[v]]), np.float32([[0]]))[0] for v in z]
    z32 = z.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(got, np.maximum(z32, 0) + np.log1p(np.exp(-np.abs(z32))), rtol=1e-6, atol=1e-7)


def test_float_tanh_over_the_whole_range():
    # float32 tanh is a polynomial near 0 and 1 − 2/(e^2|z| + 1) beyond 0.625: relative error below 3e-7 on both
    # sides of the switch, exact signs, ±1 far out, and inf/NaN handled
    z = np.concatenate([np.linspace(-20, 20, 40001), [0.0, 1e-30, -1e-8, 0.625, np.nextafter(0.625, 1), 44.0, 1e4,
                                                       -1e4, np.inf, -np.inf]]).astype(np.float32)
    got = _core.activation_forward(z.reshape(1, -1), "tanh", False).ravel()
    want = np.tanh(z.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=3e-7, atol=0)
    assert np.isnan(_core.activation_forward(np.float32([[np.nan]]), "tanh", False)).all()
    assert np.signbit(_core.activation_forward(np.float32([[-0.0]]), "tanh", False)).all()  # −0 stays −0


def test_an_unused_class_at_minus_infinity_costs_nothing(dtype):
    Z = np.array([[-np.inf, 0, 0, 0, 0]], dtype)
    loss, P = _core.softmax_cross_entropy_forward(Z, np.eye(5, dtype=dtype)[1:2])
    np.testing.assert_allclose(loss, np.log(4), rtol=1e-6)
    np.testing.assert_allclose(P[0, 1:], 0.25, rtol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("target,weight", [(0.2, 0.1), (0.05, 3.0)])
def test_sparse_kl_penalty(dtype, shape, target, weight):
    H = np.random.default_rng(5).uniform(0.01, 0.99, shape).astype(dtype)
    np.testing.assert_allclose(_core.sparse_kl_penalty_forward(H, target, weight),
                               ref.sparse_kl_penalty_forward(ref64(H), target, weight), **tol(dtype))
    np.testing.assert_allclose(_core.sparse_kl_penalty_backward(H, target, weight),
                               ref.sparse_kl_penalty_backward(ref64(H), target, weight), **tol(dtype))


def test_sparse_kl_penalty_clamps_dead_and_saturated_units(dtype):
    H = np.array([[0, 1, 0.5], [0, 1, 0.5]], dtype)
    assert np.isfinite(_core.sparse_kl_penalty_forward(H, 0.2, 1.0))
    assert np.isfinite(_core.sparse_kl_penalty_backward(H, 0.2, 1.0)).all()
    # at the clamp 1 − α̂ = ε is only representable to float32 round-off, so compare in the same dtype
    np.testing.assert_allclose(_core.sparse_kl_penalty_forward(H, 0.2, 1.0),
                               ref.sparse_kl_penalty_forward(H, 0.2, 1.0), rtol=1e-5)


def test_weight_decay(dtype):
    W = rand(np.random.default_rng(6), (7, 5), dtype)
    np.testing.assert_allclose(_core.weight_decay_forward(W, 0.3), ref.weight_decay_forward(ref64(W), 0.3),
                               **tol(dtype))
    np.testing.assert_allclose(_core.weight_decay_backward(W, 0.3), ref.weight_decay_backward(ref64(W), 0.3),
                               **tol(dtype))


@pytest.mark.parametrize("n", [1, 10, 100_001])  # the last one crosses the OpenMP threshold
def test_optimizer_updates(dtype, n):
    rng = np.random.default_rng(7)
    theta, grad = rand(rng, n, dtype), rand(rng, n, dtype)
    state = [rand(rng, n, dtype) for _ in range(3)]
    got, want = theta.copy(), ref64(theta)
    _core.sgd_update(got, grad, 0.1)
    ref.sgd_update(want, ref64(grad), 0.1)
    np.testing.assert_allclose(got, want, **tol(dtype))
    for nesterov in (False, True):
        got, want = theta.copy(), ref64(theta)
        v_got, v_want = state[0].copy(), ref64(state[0])
        _core.momentum_update(got, v_got, grad, 0.1, 0.9, nesterov)
        ref.momentum_update(want, v_want, ref64(grad), 0.1, 0.9, nesterov)
        np.testing.assert_allclose(got, want, **tol(dtype))
        np.testing.assert_allclose(v_got, v_want, **tol(dtype))
    m, v = state[1].copy(), np.abs(state[2])
    got, want, m_want, v_want = theta.copy(), ref64(theta), ref64(m), ref64(v)
    _core.adam_update(got, m, v, grad, 0.01, 0.9, 0.999, 1e-8, 3)
    ref.adam_update(want, m_want, v_want, ref64(grad), 0.01, 0.9, 0.999, 1e-8, 3)
    np.testing.assert_allclose(m, m_want, **tol(dtype))
    np.testing.assert_allclose(v, v_want, **tol(dtype))
    np.testing.assert_allclose(got, want, **tol(dtype) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5))


@pytest.mark.parametrize("n,state", [(0, 1), (1, 5), (2, 7), (1000, 12345), (5, 2**64 - 1)])
def test_shuffle_permutation_matches_reference(n, state):
    from fastmlp._params import shuffle_permutation
    got, got_state = _core.shuffle_permutation(n, state)
    want, want_state = shuffle_permutation(n, state)
    np.testing.assert_array_equal(got, want)
    assert got_state == want_state
    assert sorted(got.tolist()) == list(range(n))


def test_kernels_refuse_wrong_dtype_and_shape():
    Z = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):
        _core.activation_forward(Z.astype(np.int64), "sigmoid")
    with pytest.raises(ValueError, match="same shape"):
        _core.softmax_backward(Z, np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match="unknown activation"):
        _core.activation_forward(Z, "swish")
    with pytest.raises(ValueError, match="W's input size"):
        _core.dense_forward(Z, np.ones((2, 5), np.float32), np.ones(2, np.float32), "identity")
    with pytest.raises(ValueError, match="length"):
        _core.sgd_update(np.ones(3), np.ones(4), 0.1)


@pytest.mark.parametrize("shape", SHAPES + [(300, 200)])  # 60,000 elements: the threaded loops too
@pytest.mark.parametrize("act", ACTS)
def test_squared_error_forward_backward(dtype, shape, act):
    rng = np.random.default_rng(7)
    Z, b = rand(rng, shape, dtype, 2), rand(rng, shape[1], dtype)
    Y = rng.uniform(size=shape).astype(dtype)
    got = _core.squared_error_forward_backward(Z, b, Y, act)
    want = ref.squared_error_forward_backward(ref64(Z), ref64(b), ref64(Y), act)
    for g, w in zip(got, want):  # loss, dZ and its column sums
        np.testing.assert_allclose(g, w, **tol(dtype))
    Yhat = _core.activation_forward(Z + b, act)
    np.testing.assert_allclose(got[0], _core.squared_error_forward(Yhat, Y), **tol(dtype))  # the same loss
    with pytest.raises(ValueError, match="softmax"):
        _core.squared_error_forward_backward(Z, b, Y, "softmax")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_output_error_column_sums_are_reproducible_at_any_thread_count(threads):
    # threads sum their blocks of rows and the blocks are added in thread order: bit-identical on every run
    rng = np.random.default_rng(8)
    Z, Y, b = rng.random((400, 300), np.float32), rng.random((400, 300), np.float32), np.zeros(300, np.float32)
    before = _core.get_num_threads()
    try:
        _core.set_num_threads(threads)
        runs = [_core.squared_error_forward_backward(Z, b, Y, "sigmoid") for _ in range(3)]
    finally:
        _core.set_num_threads(before)
    for loss, delta, sums in runs[1:]:
        assert loss == runs[0][0]
        np.testing.assert_array_equal(delta, runs[0][1])
        np.testing.assert_array_equal(sums, runs[0][2])
    want = ref.squared_error_forward_backward(ref64(Z), ref64(b), ref64(Y), "sigmoid")[2]
    np.testing.assert_allclose(runs[0][2], want, **tol(np.float32))


@pytest.mark.parametrize("size", [1, 7, 100_000])  # 100,000: the scan is split across threads
@pytest.mark.parametrize("bad", [None, np.nan, np.inf, -np.inf])
def test_all_finite(dtype, size, bad):
    values = np.random.default_rng(8).standard_normal(size).astype(dtype)
    values[0] = np.finfo(dtype).max  # the largest finite value is finite
    values[-1] = np.finfo(dtype).tiny / 4  # and so is a subnormal
    if bad is not None:
        values[size // 2] = bad
    assert _core.all_finite(values) is ref.all_finite(values) is (bad is None)
    assert _core.all_finite(values.reshape(1, -1)) is (bad is None)  # any shape


def unit_interval_edge(dtype, name):
    """The values next to the edges of [0, 1] (and past them) that the bit-pattern scan must tell apart."""
    dtype = np.dtype(dtype).type
    return {
        "below zero": dtype(-1e-30),
        "negative subnormal": -np.finfo(dtype).smallest_subnormal,  # bits right after −0's
        "above one": np.nextafter(dtype(1), dtype(2)),               # bits right after 1's
        "nan": dtype(np.nan),
        "nan with the sign bit": np.copysign(dtype(np.nan), dtype(-1)),
        "inf": dtype(np.inf),
        "-inf": dtype(-np.inf),
        "float64's -tiny": dtype(-np.finfo(np.float64).tiny),         # −0 in float32: inside
    }[name]


@pytest.mark.parametrize("size", [1, 7, 100_003])  # 100,003: split across threads, with a scalar tail
@pytest.mark.parametrize("at", ["middle", "last"])
@pytest.mark.parametrize("bad", [None, "below zero", "negative subnormal", "above one", "nan", "nan with the sign bit",
                                 "inf", "-inf", "float64's -tiny"])
def test_all_in_unit_interval(dtype, size, at, bad):
    values = np.random.default_rng(9).uniform(0, 1, size).astype(dtype)
    values[0] = 1.0  # both ends are inside,
    values[-1] = 0.0
    if size > 3:
        values[1] = -0.0  # and so is −0 (its sign bit alone is set)
        values[2] = np.finfo(dtype).smallest_subnormal  # and a subnormal
    where = size // 2 if at == "middle" else size - 1
    if bad is not None:
        values[where] = unit_interval_edge(dtype, bad)
    want = bool(((values >= 0) & (values <= 1)).all()) if bad is None else bool(0 <= values[where] <= 1)
    assert want is (bad is None or (bad == "float64's -tiny" and dtype == np.float32))
    assert _core.all_in_unit_interval(values) is ref.all_in_unit_interval(values) is want
    assert _core.all_in_unit_interval(values.reshape(1, -1)) is want  # any shape


def test_all_in_unit_interval_of_arrays_the_core_does_not_scan():
    """The Python fallback (strided views, other dtypes) gives the same answers."""
    values = np.zeros((4, 6), np.float32)
    assert _validation.all_in_unit_interval(values[:, ::2]) is True
    values[1, 2] = -0.0
    assert _validation.all_in_unit_interval(values[:, ::2].astype(np.float16)) is True
    values[3, 4] = 1.5
    assert _validation.all_in_unit_interval(values[:, ::2]) is False
    assert _validation.all_in_unit_interval(values[:, 1::2]) is True  # the 1.5 is not in this view
    values[0, 1] = np.nan
    assert _validation.all_in_unit_interval(values[:, 1::2]) is False
