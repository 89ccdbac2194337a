"""Plain SGD on small mini-batches of a one-hidden-layer network (on a wide layer's of up to 512 rows, and on an
AVX-512 CPU on any of up to 1024 rows it reads in place) runs on one team of threads that own blocks of hidden units
(cpp/unit_split.cpp): every output and loss, every hidden activation, hidden widths that are and are not multiples
of the 16-unit blocks, 2 and 3 threads, shuffled and in-order batches with a smaller last one, float64 and float32,
against the NumPy reference; NaN/inf in X, a bad label and a divergence undo the epoch as on every other path; the
path is the one taken (its per-thread partial outputs, and its copies of the batch where it does not read the batch
in place, are in the workspace); and the built core still holds the prefetch of the next batch's rows."""
import platform
import re
import shutil
import subprocess

import numpy as np
import pytest

import fastmlp
from fastmlp import reference as ref

MAX_SPLIT_ROWS = 64    # kUnitSplitMaxRows: mini-batches up to this many rows take the split step
WIDE_UNITS = 256       # kWideUnits: ... and up to kWideMaxRows when each thread owns at least this many hidden units
WIDE_MAX_ROWS = 512
# kGatheredMaxRows, or kGatheredWideMaxRows where the own kernels run wider vectors than the BLAS (512-bit ones on an
# AVX-512 CPU whose BLAS runs AVX2 kernels: gathered_outrun_blas): steps read the batch in place, and past
# MAX_SPLIT_ROWS such steps still take the split step; otherwise only while a thread's rows of W1 take at most
# kGatheredMaxWeightBytes, where they outrun it in blocks of units of at most kGatheredBlockBytes
INFO = fastmlp.build_info()
OUTRUN = int(INFO["gathered_vector_bytes"]) > int(INFO["blas_vector_bytes"])
GATHERED_MAX_ROWS = 1024 if OUTRUN else 32
GATHERED_MAX_WEIGHT_BYTES = 512 * 1024

OUTPUTS = [dict(), dict(output="sigmoid", loss="binary_cross_entropy"), dict(output="identity"),
           dict(output="sigmoid", loss="squared_error"), dict(output="softmax", loss="squared_error")]


def targets(rng, net, n):
    k = net.layer_sizes[-1]
    return rng.integers(0, k, n).astype(np.int32) if net.output == "softmax" and net.loss_name == "cross_entropy" \
        else rng.uniform(0, 1, (n, k))


def split_buffers_bytes(net, batch, n_threads):
    """What the split step adds to the workspace: threads 1.. each keep a partial output, and a copy of the batch
    unless the step reads the batch in place (gathered_products.h: up to GATHERED_MAX_ROWS rows, in 256-bit vectors
    while a thread's rows of W1 take at most 512 KiB)."""
    d, h, k = net.layer_sizes
    itemsize = np.dtype(net.dtype).itemsize
    blocks = -(-h // 16)                                  # 16-unit blocks, shared out whole
    units = min(h, -(-blocks // n_threads) * 16)          # the largest thread's share
    in_place = batch <= GATHERED_MAX_ROWS and (OUTRUN or units * d * itemsize <= GATHERED_MAX_WEIGHT_BYTES)
    return (n_threads - 1) * batch * (k if in_place else d + k) * itemsize


def assert_two_epochs_match_the_reference(config, dtype, n, batch, shuffle, data_seed):
    net, twin = fastmlp.Network(**config, dtype=dtype, seed=4), ref.Network(**config, dtype="float64", seed=4)
    rng = np.random.default_rng(data_seed)
    X = rng.uniform(-1, 1, (n, config["layer_sizes"][0])).astype(dtype)
    Y = targets(rng, net, n)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=1e-4, atol=1e-5)
    for _ in range(2):  # the shuffle stream carries over between epochs
        got = net.train_epoch(X, Y, batch, learning_rate=0.05, shuffle=shuffle)
        want = twin.train_epoch(X.astype(np.float64), Y, batch, learning_rate=0.05, shuffle=shuffle)
        np.testing.assert_allclose(got, want, **tol)
        np.testing.assert_allclose(net.get_flat(), twin.get_flat(), **tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("out", OUTPUTS)
@pytest.mark.parametrize("hidden", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("n_threads,width", [(2, 64), (2, 33), (3, 70), (3, 17)])
# batch 130: past MAX_SPLIT_ROWS, the split step only where the batch is read in place (512-bit vectors)
@pytest.mark.parametrize("n,batch,shuffle", [(150, 32, True), (150, 64, False), (40, 1, True), (300, 130, True)])
def test_the_split_step_matches_the_reference(threads, dtype, out, hidden, n_threads, width, n, batch, shuffle):
    threads(n_threads)
    assert_two_epochs_match_the_reference(dict(layer_sizes=(20, width, 6), hidden_activation=hidden, **out), dtype,
                                          n, batch, shuffle, data_seed=2)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("out", [OUTPUTS[0], OUTPUTS[1]])
@pytest.mark.parametrize("hidden", ["sigmoid", "relu"])
@pytest.mark.parametrize("n_threads,width", [(2, 2 * WIDE_UNITS), (3, 3 * WIDE_UNITS + 5)])
@pytest.mark.parametrize("batch,shuffle", [(100, True), (WIDE_MAX_ROWS, False)])
def test_the_split_step_of_a_wide_layer_matches_the_reference(threads, dtype, out, hidden, n_threads, width, batch,
                                                              shuffle):
    threads(n_threads)
    assert_two_epochs_match_the_reference(dict(layer_sizes=(20, width, 6), hidden_activation=hidden, **out), dtype,
                                          600, batch, shuffle, data_seed=3)  # 600 rows: a smaller last batch


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_threads", [2, 3])
def test_a_large_batch_read_in_place_matches_the_reference(threads, dtype, n_threads):
    """Up to GATHERED_MAX_ROWS rows (1024 in 512-bit vectors) at 100 inputs, so that every tile and block of the
    update runs over many rows, and a smaller last batch."""
    threads(n_threads)
    assert_two_epochs_match_the_reference(dict(layer_sizes=(100, 70, 6)), dtype, GATHERED_MAX_ROWS * 2 + 37,
                                          GATHERED_MAX_ROWS, True, data_seed=6)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("n_threads,width", [(2, 64), (3, 70)])
def test_a_thread_share_past_the_block_bytes_matches_the_reference(threads, dtype, n_threads, width):
    """At 4112 inputs a thread's rows of W1 take more than 512 KiB (32 units: 526 KiB in float32, 1.05 MiB in
    float64): where the own kernels outrun the BLAS the step reads the batch in place in blocks of units (24 + 8
    units in float32, 12 + 12 + 8 in float64; 70 units on 3 threads are shares of 32, 32 and 6). Batch 100, past
    MAX_SPLIT_ROWS (elsewhere not the split step: its products run through the BLAS), and a smaller last one."""
    threads(n_threads)
    assert_two_epochs_match_the_reference(dict(layer_sizes=(4112, width, 6)), dtype, 250, 100, True, data_seed=8)


def test_the_split_step_is_the_path_taken_and_only_where_it_applies(threads):
    """Compared with a twin that cannot take it (a weight decay of 1e-12: not plain SGD), the workspace holds exactly
    the split step's buffers more where it applies, and the same elsewhere."""
    rng = np.random.default_rng(0)
    n = max(WIDE_MAX_ROWS, GATHERED_MAX_ROWS) + 1
    y = rng.integers(0, 16, n).astype(np.int32)

    def extra_bytes(n_threads, batch, sizes=(32, 48, 16), optimizer="sgd"):
        threads(n_threads)
        X = rng.uniform(0, 1, (n, sizes[0])).astype(np.float32)
        got = []
        for decay in (0.0, 1e-12):
            net = fastmlp.Network(sizes, weight_decay=decay, seed=0)
            net.train_epoch(X, y, batch, optimizer=optimizer)
            got.append(net._net.workspace_bytes)
        return got[0] - got[1]

    def split_bytes(sizes, batch, team):
        return split_buffers_bytes(fastmlp.Network(sizes), batch, team)

    net = fastmlp.Network((32, 48, 16))  # sizes chosen so that every buffer fills whole cache lines
    for n_threads, batch, team in [(2, 32, 2), (3, 32, 3), (2, MAX_SPLIT_ROWS, 2), (4, 16, 3)]:
        assert extra_bytes(n_threads, batch) == split_buffers_bytes(net, batch, team), (n_threads, batch)
    # 4 blocks of units on 3 threads: 2 + 2 on a team of 2, none left idle
    assert extra_bytes(3, 32, sizes=(32, 64, 16)) == split_buffers_bytes(net, 32, 2)
    # past 512 KiB of W1 rows a thread (4112 units of 32 inputs), 32 rows are copied again; where the own kernels
    # outrun the BLAS they are still read in place, in blocks of units
    big = (32, 8224, 16)
    assert split_bytes(big, 32, 2) == 32 * (16 if OUTRUN else 32 + 16) * 4
    assert extra_bytes(2, 32, sizes=big) == split_bytes(big, 32, 2)
    assert extra_bytes(2, 32, sizes=(32, 8192, 16)) == 32 * 16 * 4  # exactly 512 KiB: in place
    assert extra_bytes(1, 32) == 0
    assert extra_bytes(2, 32, sizes=(32, 16, 16)) == 0          # one block of hidden units
    assert extra_bytes(2, 32, sizes=(32, 48, 48, 16)) == 0      # two hidden layers
    assert extra_bytes(2, 32, optimizer="momentum") == 0
    # past MAX_SPLIT_ROWS rows: taken where the batch is read in place, up to GATHERED_MAX_ROWS rows where the own
    # kernels outrun the BLAS however many bytes a thread's rows of W1 take (32 units of 4112 inputs: 526 KiB, two
    # blocks of units); never elsewhere, where GATHERED_MAX_ROWS is below MAX_SPLIT_ROWS
    gathers = MAX_SPLIT_ROWS + 1 <= GATHERED_MAX_ROWS
    assert gathers == OUTRUN
    for sizes in [(32, 48, 16), (4112, 48, 16), (4096, 48, 16)]:
        assert extra_bytes(2, MAX_SPLIT_ROWS + 1, sizes=sizes) == (
            split_bytes(sizes, MAX_SPLIT_ROWS + 1, 2) if gathers else 0), sizes
    if gathers:
        assert extra_bytes(2, GATHERED_MAX_ROWS) == split_buffers_bytes(net, GATHERED_MAX_ROWS, 2)
        assert extra_bytes(2, GATHERED_MAX_ROWS + 1) == 0
    # wide layers: up to WIDE_MAX_ROWS rows when every thread owns WIDE_UNITS hidden units or more (here at 4096
    # inputs, so that a thread's rows of W1 take more than 512 KiB and the step copies the batch). Where the own
    # kernels outrun the BLAS, the steps the rule leaves out read the batch in place, and are taken all the same.
    def not_wide(sizes, batch, team):
        return split_bytes(sizes, batch, team) if gathers else 0

    wide = (4096, 2 * WIDE_UNITS, 16)
    assert extra_bytes(2, MAX_SPLIT_ROWS + 1, sizes=wide) == split_bytes(wide, MAX_SPLIT_ROWS + 1, 2)
    assert extra_bytes(2, WIDE_MAX_ROWS, sizes=wide) == split_bytes(wide, WIDE_MAX_ROWS, 2)
    assert extra_bytes(2, WIDE_MAX_ROWS + 1, sizes=wide) == not_wide(wide, WIDE_MAX_ROWS + 1, 2)
    assert extra_bytes(3, 128, sizes=wide) == not_wide(wide, 128, 3)   # 171 units a thread: too few
    assert extra_bytes(3, 128, sizes=(4096, 3 * WIDE_UNITS, 16)) == split_bytes((4096, 3 * WIDE_UNITS, 16), 128, 3)
    narrow = (4096, 2 * WIDE_UNITS - 16, 16)
    assert extra_bytes(2, 128, sizes=narrow) == not_wide(narrow, 128, 2)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_threads", [2, 3])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("value", [np.nan, -np.inf])
@pytest.mark.parametrize("row", [0, 70, 149])
def test_a_bad_value_in_x_raises_naming_its_row_and_undoes_the_epoch(threads, dtype, n_threads, shuffle, value, row):
    threads(n_threads)
    net = fastmlp.Network((12, 64, 4), dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (150, 12)).astype(dtype)
    y = rng.integers(0, 4, 150).astype(np.int32)
    net.train_epoch(X, y, 32, shuffle=shuffle)
    before = net.get_flat(), net._net.shuffle_state
    X[row, 7] = value
    with pytest.raises(ValueError, match=rf"^X contains NaN or infinity \(row {row}\); parameters were restored"):
        net.train_epoch(X, y, 32, shuffle=shuffle)
    np.testing.assert_array_equal(net.get_flat(), before[0])
    assert net._net.shuffle_state == before[1]


def test_a_bad_label_and_a_divergence_undo_the_epoch(threads):
    threads(2)
    net = fastmlp.Network((12, 64, 4), seed=0)
    rng = np.random.default_rng(1)
    X = rng.uniform(0, 1, (150, 12)).astype(np.float32)
    y = rng.integers(0, 4, 150).astype(np.int32)
    net.train_epoch(X, y, 32)
    before = net.get_flat()
    bad = y.copy()
    bad[97] = 4
    with pytest.raises(ValueError, match="label 4"):
        net.train_epoch(X, bad, 32)
    np.testing.assert_array_equal(net.get_flat(), before)
    with pytest.raises(FloatingPointError, match="became nan.*parameters were restored"):
        net.train_epoch(X * 1e30, y, 32, learning_rate=1e30)
    np.testing.assert_array_equal(net.get_flat(), before)


def test_one_network_on_changing_thread_counts_matches_the_reference(threads):
    """The workspace sized for a larger team is reused by smaller ones: nothing a thread of the earlier team left in
    it (its partial output product) may reach a later step."""
    config = dict(layer_sizes=(20, 64, 6))
    net, twin = fastmlp.Network(**config, dtype="float64", seed=4), ref.Network(**config, dtype="float64", seed=4)
    rng = np.random.default_rng(5)
    X = rng.uniform(0, 1, (100, 20))
    y = rng.integers(0, 6, 100).astype(np.int32)
    for n_threads in (4, 3, 2, 4, 1, 3):
        threads(n_threads)
        np.testing.assert_allclose(net.train_epoch(X, y, 32), twin.train_epoch(X, y, 32), rtol=1e-10)
        np.testing.assert_allclose(net.get_flat(), twin.get_flat(), rtol=1e-10, atol=1e-12)


def test_one_and_two_threads_agree_and_two_repeat_bit_for_bit(threads):
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (300, 50))
    y = rng.integers(0, 10, 300).astype(np.int32)
    runs = {}
    for n_threads in (1, 2, 2):
        threads(n_threads)
        net = fastmlp.Network((50, 40, 10), dtype="float64", seed=1)
        losses = [net.train_epoch(X, y, 16) for _ in range(3)]
        runs.setdefault(n_threads, []).append((losses, net.get_flat()))
    (l1, p1), = runs[1]
    (l2, p2), (l2b, p2b) = runs[2]
    np.testing.assert_allclose(l2, l1, rtol=1e-12)
    np.testing.assert_allclose(p2, p1, rtol=1e-10, atol=1e-13)
    assert l2 == l2b
    np.testing.assert_array_equal(p2, p2b)


PREFETCH = {"x86_64": r"\bprefetcht[012]\b", "amd64": r"\bprefetcht[012]\b", "aarch64": r"\bprfm\b",
            "arm64": r"\bprfm\b"}


@pytest.mark.skipif(platform.machine().lower() not in PREFETCH or shutil.which("objdump") is None,
                    reason="needs objdump and an x86-64 or AArch64 core to read the instructions of")
def test_the_next_batch_prefetch_is_compiled_into_the_core():
    """The split step prefetches the next mini-batch's rows (prefetch_rows in cpp/unit_split.cpp; its only prefetch,
    and the core's). Between 738f066 and 3d6d89e the built core held no prefetch instruction at all: GCC 12 had
    deleted the loop, which sat in a lambda of its own, as free of side effects, and nothing failed."""
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", fastmlp._core.__file__], capture_output=True,
                             text=True, check=True).stdout
    assert re.search(PREFETCH[platform.machine().lower()], listing), "no prefetch instruction in " + \
        fastmlp._core.__file__
