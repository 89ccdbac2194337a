"""The native calls check X for NaN/inf themselves where they read its rows anyway, not by a pass of their own
before each call (cpp/finite_input.h). train_epoch, a mini-batch at a time: whichever batch holds the bad value, on
every path a batch can take (gathered in shuffled order, read in place, run in chunks, averaged through a gradient
hook), it raises ValueError naming the lowest bad row, and leaves the parameters, the optimizer state and the
shuffle stream as they were before the epoch. loss / loss_and_grad(_flat), a chunk of rows at a time for a large
batch: the same error, and with theta the parameters unchanged."""
import numpy as np
import pytest

import fastmlp

CHUNK_ROWS = 256  # kChunkRows in cpp/full_batch.cpp: a batch runs in chunks from 2·CHUNK_ROWS·threads rows


def state(net):
    return net.get_flat(), net._net.shuffle_state


def assert_unchanged(net, before):
    np.testing.assert_array_equal(net.get_flat(), before[0])
    assert net._net.shuffle_state == before[1]


def data(n, d, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, d)).astype(dtype), (np.arange(n) % 3).astype(np.int32)


# (threads, n, batch, shuffle): gathered batches (and a smaller last one), in place, one whole batch, chunked
# in-order batches, a chunked full batch, a chunked full batch in shuffled order (read in place all the same)
PATHS = [(1, 50, 8, True), (2, 50, 8, True), (2, 50, 8, False), (1, 50, 50, True), (2, 3000, 1100, False),
         (2, 1500, 1500, False), (2, 1500, 1500, True)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads_n,n,batch,shuffle", PATHS)
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_a_bad_value_anywhere_raises_naming_its_row_and_undoes_the_epoch(threads, dtype, threads_n, n, batch,
                                                                        shuffle, where, value):
    threads(threads_n)
    net = fastmlp.Network((6, 5, 3), dtype=dtype, seed=0)
    X, y = data(n, 6, dtype)
    net.train_epoch(X, y, batch, optimizer="momentum", shuffle=shuffle)  # velocity and shuffle stream under way
    row = {"first": 0, "middle": n // 2 + 1, "last": n - 1}[where]
    X[row, 4] = value
    X[n - 1 if row == 0 else 0, 1] = 0.5  # a finite change elsewhere, to be sure only bad values count
    before = state(net)
    with pytest.raises(ValueError, match=rf"^X contains NaN or infinity \(row {row}\); parameters were restored"):
        net.train_epoch(X, y, batch, optimizer="momentum", shuffle=shuffle)
    assert_unchanged(net, before)

    # The epoch left no trace: the next one on good data continues exactly as a twin that never saw the bad one.
    twin = fastmlp.Network((6, 5, 3), dtype=dtype, seed=0)
    X[row, 4] = 0.25
    good, _ = data(n, 6, dtype)
    twin.train_epoch(good, y, batch, optimizer="momentum", shuffle=shuffle)
    np.testing.assert_array_equal(twin.get_flat(), net.get_flat())
    assert net.train_epoch(X, y, batch, optimizer="momentum", shuffle=shuffle) == \
        twin.train_epoch(X, y, batch, optimizer="momentum", shuffle=shuffle)
    np.testing.assert_array_equal(twin.get_flat(), net.get_flat())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("batch", [40, 8, 3])
def test_the_lowest_bad_row_of_all_x_is_named_whichever_batch_meets_one_first(dtype, batch):
    net = fastmlp.Network((6, 5, 3), dtype=dtype, seed=0)
    X, y = data(40, 6, dtype)
    X[[31, 17, 38], 2] = np.nan  # in whatever batches and order the shuffles take them
    for _ in range(5):
        with pytest.raises(ValueError, match=r"\(row 17\)"):
            net.train_epoch(X, y, batch)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("threads_n", [1, 2])
def test_wide_rows_gathered_on_two_threads_and_every_optimizers_state(threads, optimizer, threads_n):
    # 784 features and batch 64: the gather (and the check fused into it) forks; Adam's moments and step count,
    # weight decay on, must come back as they were too.
    threads(threads_n)
    config = dict(layer_sizes=(784, 16, 10), weight_decay=1e-3)
    net, twin = fastmlp.Network(**config, seed=0), fastmlp.Network(**config, seed=0)
    X, _ = data(640, 784, "float32")
    y = (np.arange(640) % 10).astype(np.int32)
    for n in (net, twin):
        n.train_epoch(X, y, 64, optimizer=optimizer)
    bad = X.copy()
    bad[[600, 77], 400] = [np.inf, np.nan]
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity \(row 77\); parameters were restored"):
        net.train_epoch(bad, y, 64, optimizer=optimizer)
    for n in (net, twin):
        n.train_epoch(X, y, 64, optimizer=optimizer)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())


def test_a_chunked_last_batch_and_bad_rows_in_both_threads_blocks(threads):
    threads(2)
    net = fastmlp.Network((6, 5, 3), seed=0)
    X, y = data(3250, 6, "float32")  # batches of 1100, 1100 and 1050 rows: each runs in chunks
    X[3200, 0] = np.nan
    before = state(net)
    with pytest.raises(ValueError, match=r"\(row 3200\)"):
        net.train_epoch(X, y, 1100, shuffle=False)
    assert_unchanged(net, before)
    X, y = data(2 * 2 * CHUNK_ROWS + 300, 6, "float32")  # a chunked batch: each thread's block has a bad row
    X[[1100, 300], 1] = np.nan
    with pytest.raises(ValueError, match=r"\(row 300\)"):
        net.loss_and_grad(X, y)


@pytest.mark.parametrize("loss", ["squared_error", "binary_cross_entropy"])
def test_an_autoencoders_inputs_are_its_targets_and_are_checked_once(loss):
    net = fastmlp.Network((6, 3, 6), output="sigmoid", loss=loss, seed=0)
    X, _ = data(30, 6, "float32")
    X[12, 0] = np.inf  # the binary cross-entropy's [0, 1] check leaves NaN/inf to the core's, which names the row
    before = state(net)
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity \(row 12\)"):
        net.train_epoch(X, X, 4)
    assert_unchanged(net, before)
    X[3, 1] = -0.5  # beside -inf, a finite value out of range: NaN/inf is named first
    X[12, 0] = -np.inf
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity \(row 12\)"):
        net.train_epoch(X, X, 4)
    X[12, 0] = 0.5
    if loss == "binary_cross_entropy":  # a finite value out of range is still the range check's
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\] .* got values in \[-0.5, "):
            net.train_epoch(X, X, 4)
    else:
        assert np.isfinite(net.train_epoch(X, X, 4))


def test_with_a_gradient_hook_x_is_checked_before_the_first_batch():
    # Ranks averaging gradients must all stop or none: the check comes before the epoch, so no hook call happens.
    net = fastmlp.Network((6, 5, 3), seed=0)
    X, y = data(50, 6, "float32")
    X[45, 0] = np.nan
    calls = []
    before = state(net)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        net.train_epoch(X, y, 8, gradient_hook=calls.append)
    # the native epoch on its own (no Python check before it) does the same
    with pytest.raises(ValueError, match=r"^X contains NaN or infinity \(row 45\)"):
        net._net.train_epoch(X, y, 8, "sgd", 0.1, 0.9, False, 0.9, 0.999, 1e-8, True, calls.append)
    assert calls == []
    assert_unchanged(net, before)


def test_a_converted_copy_is_still_checked_before_the_epoch():
    net = fastmlp.Network((6, 5, 3), seed=0)  # float32: a float64 X is converted, and the copy checked at once
    X, y = data(50, 6, "float64")
    X[7, 0] = 1e300
    with pytest.raises(ValueError, match="X holds values beyond the range of float32"):
        net.train_epoch(X, y, 8)
    X[7, 0] = np.nan
    with pytest.raises(ValueError, match="^X contains NaN or infinity$"):
        net.train_epoch(X, y, 8)


def test_estimators_still_refuse_bad_inputs_before_training():
    X, y = data(50, 6, "float32")
    X[20, 3] = np.nan
    clf = fastmlp.MLPClassifier(hidden_layer_sizes=(4,), max_epochs=2)
    with pytest.raises(ValueError, match="NaN or infinity"):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


# (threads, n): one whole batch, a chunked one (from 2·CHUNK_ROWS·threads rows)
WHOLE_AND_CHUNKED = [(1, 40), (2, 40), (2, 2 * CHUNK_ROWS * 2 + 300), (1, 2 * CHUNK_ROWS + 10)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads_n,n", WHOLE_AND_CHUNKED)
@pytest.mark.parametrize("rows", [[0], [7, 3], [-1], [-1, -300]])
def test_loss_and_gradient_calls_name_the_lowest_bad_row(threads, dtype, threads_n, n, rows):
    threads(threads_n)
    net = fastmlp.Network((6, 5, 3), dtype=dtype, seed=0)
    X, y = data(n, 6, dtype)
    bad = sorted(r % n for r in rows)
    X[bad, 2] = np.nan
    X[bad[-1], 5] = -np.inf
    message = rf"^X contains NaN or infinity \(row {bad[0]}\)$"
    with pytest.raises(ValueError, match=message):
        net.loss(X, y)
    with pytest.raises(ValueError, match=message):
        net.loss_and_grad(X, y)
    before, theta = net.get_flat(), net.get_flat() + 1
    with pytest.raises(ValueError, match=message):
        net.loss_and_grad_flat(theta, X, y)
    np.testing.assert_array_equal(net.get_flat(), before)  # theta refused with X: the parameters as they were
    X[bad] = 0.5
    loss, grad = net.loss_and_grad_flat(theta, X, y)  # and the same calls on good data work as before
    assert np.isfinite(loss) and np.isfinite(grad).all()
    np.testing.assert_array_equal(net.get_flat(), theta)


@pytest.mark.parametrize("threads_n,n", WHOLE_AND_CHUNKED)
def test_a_sparse_autoencoders_gradient_checks_its_inputs_once(threads, threads_n, n):
    threads(threads_n)
    net = fastmlp.Network((6, 3, 6), output="sigmoid", loss="binary_cross_entropy", sparsity_target=0.1,
                          sparsity_weight=3.0, weight_decay=1e-4, seed=0)
    X, _ = data(n, 6, "float32")
    want = net.loss_and_grad(X, X)
    X[n - 2, 1] = np.inf
    with pytest.raises(ValueError, match=rf"\(row {n - 2}\)"):
        net.loss_and_grad(X, X)
    X[n - 2, 1] = data(n, 6, "float32")[0][n - 2, 1]
    got = net.loss_and_grad(X, X)  # the refused call left nothing behind
    assert got[0] == want[0]
    for g, w in zip(got[1] + got[2], want[1] + want[2]):
        np.testing.assert_array_equal(g, w)
