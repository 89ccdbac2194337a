"""Edge cases of the public API, each once a bug, and a misbehaving gradient_hook (issue 7).

Includes the NaN/inf through the float32 fast exp check, run in a subprocess (instrumented under
scripts/sanitize.sh).
"""
import os
import textwrap

import numpy as np
import pytest

import fastmlp

from fuzz_helpers import SANITIZER_SIGNS, names, run_child


# ----------------------------------------------------------------------------- edge cases (each once a bug)
def test_huge_declared_batch_is_clipped_to_the_data():
    net = fastmlp.Network((3, 2), seed=0)
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    twin = fastmlp.Network((3, 2), seed=0)
    net.train_epoch(X, y, 10**9, shuffle=False)
    twin.train_epoch(X, y, 4, shuffle=False)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())


def test_batch_size_beyond_int32_is_clipped_to_the_data():
    """Once passed unclipped to the native int argument: pybind11's 'incompatible function arguments'."""
    net = fastmlp.Network((3, 2), seed=0)
    twin = fastmlp.Network((3, 2), seed=0)
    X, y = np.ones((4, 3)), np.array([0, 1, 0, 1])
    net.train_epoch(X, y, 2**31, shuffle=False)
    twin.train_epoch(X, y, 4, shuffle=False)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())


@pytest.mark.parametrize("where", ["X", "Y", "theta"])
def test_values_beyond_float32_range_are_a_clear_value_error(where):
    """Once numpy's 'overflow encountered in cast' RuntimeWarning, then a ValueError blaming NaN/inf."""
    net = fastmlp.Network((2, 2), output="identity", dtype="float32", seed=0)
    X = np.ones((1, 2))
    if where == "X":
        call = lambda: net.forward(np.array([[1e300, 0.0]]))  # noqa: E731
    elif where == "Y":
        call = lambda: net.loss(X, np.array([[1e300, 0.0]]))  # noqa: E731
    else:
        call = lambda: net.set_flat(np.full(net.n_parameters, 1e300))  # noqa: E731
    with pytest.raises(ValueError, match=rf"\b{where}\b.*(float32|range|large)"):
        call()


def test_incomparable_labels_error_names_y():
    """Once numpy's bare "'<' not supported between instances" from np.unique."""
    X = np.random.default_rng(0).uniform(0, 1, (4, 2))
    with pytest.raises(TypeError, match=r"\by\b"):
        fastmlp.SoftmaxRegression(max_epochs=1).fit(X, np.array([1, "a", 2, "b"], dtype=object))


UNALIGNED_CHILD = textwrap.dedent(r'''
    import numpy as np, fastmlp
    from fastmlp import _core
    from fastmlp._validation import as_float_array, as_targets

    def unaligned(values, dtype):
        values = np.asarray(values, dtype)
        buf = bytearray(values.nbytes + 1)
        arr = np.frombuffer(buf, dtype=dtype, count=values.size, offset=1).reshape(values.shape)
        arr[...] = values
        assert not arr.flags.aligned
        return arr

    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 1, (64, 40)), np.arange(64) % 10
    # The public path must hand the core aligned copies (a misaligned float*/int32* is undefined behaviour,
    # reported by UBSan, and faults on strict-alignment CPUs).
    assert as_float_array(unaligned(X, np.float32), np.float32).flags.aligned, "X reaches the core misaligned"
    assert as_targets(unaligned(y, np.int32), 64, 10, True, np.float32).flags.aligned, "labels reach it misaligned"
    net, twin = fastmlp.Network((40, 8, 10), seed=0), fastmlp.Network((40, 8, 10), seed=0)
    np.testing.assert_array_equal(net.forward(unaligned(X, np.float32)), twin.forward(X))
    net.train_epoch(unaligned(X, np.float32), unaligned(y, np.int32), 8)
    twin.train_epoch(X, y, 8)
    np.testing.assert_array_equal(net.get_flat(), twin.get_flat())
    # The private kernels take arrays as they are: a misaligned one must be refused, not dereferenced.
    try:
        _core.sgd_update(unaligned(np.ones(100), np.float32), unaligned(np.ones(100), np.float32), 0.1)
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError("_core.sgd_update accepted misaligned arrays")
    print("ok")
''')


def test_misaligned_arrays_are_copied_or_refused():
    """Misaligned arrays (np.frombuffer(..., offset=1)) once reached the C++ core as misaligned pointers:
    undefined behaviour (UBSan: misaligned int32 load in Network::dense_targets)."""
    proc = run_child(UNALIGNED_CHILD, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-4000:]


HUGE_LAYER_CHILD = textwrap.dedent(r'''
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))  # an OOM here must be a MemoryError, not a kill
    import fastmlp
    try:
        fastmlp.Network((2**31, 1))
    except ValueError as exc:
        print("ValueError", exc)
    except BaseException as exc:  # noqa: BLE001
        print(type(exc).__name__, exc)
''')


@pytest.mark.skipif(bool(os.environ.get("FASTMLP_SANITIZER_RUN")), reason="RLIMIT_AS does not work under ASan")
def test_layer_size_beyond_int32_is_a_value_error():
    """Once allocated ~24 GB (the Glorot init) before the native constructor refused the size: OOM-killed."""
    proc = run_child(HUGE_LAYER_CHILD, timeout=120)
    first = proc.stdout.strip().split(" ", 1)[0] if proc.stdout.strip() else proc.stderr[-2000:]
    assert first == "ValueError" and "layer_sizes" in proc.stdout, proc.stdout + proc.stderr[-2000:]


@pytest.mark.parametrize("where", ["Y", "H"])
def test_ragged_nested_lists_error_names_the_argument(where):
    """Once numpy's bare 'setting an array element with a sequence' for Y and H."""
    ragged = [[1.0, 0.0], [1.0]]
    if where == "Y":
        call = lambda: fastmlp.Network((2, 2), seed=0).loss(np.ones((2, 2)), ragged)  # noqa: E731
    else:
        call = lambda: fastmlp.kl_sparsity(ragged, 0.1)  # noqa: E731
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    assert names(info.value, where), str(info.value)


# ----------------------------------------------------------------------------- a misbehaving gradient_hook
@pytest.mark.parametrize("behaviour", ["raises", "keyboard_interrupt", "reenters", "writes_nan", "keeps_the_view",
                                       "drops_the_last_reference", "not_callable", "sets_parameters"])
def test_misbehaving_gradient_hook(behaviour):
    rng = np.random.default_rng(0)
    X, y = rng.uniform(0, 1, (40, 5)), rng.integers(0, 3, 40)
    # float64: NaN through the float32 fast exp is undefined behaviour, tracked by its own test below
    holder = [fastmlp.Network((5, 4, 3), dtype="float64", seed=0)]
    net = holder[0]
    net.train_epoch(X, y, 8, optimizer="momentum")  # velocity and shuffle state exist
    twin = fastmlp.Network((5, 4, 3), dtype="float64", seed=0)
    twin.train_epoch(X, y, 8, optimizer="momentum")
    before = net.get_flat()
    kept = []

    def hook(grad):
        assert grad.shape == (net.n_parameters,) and grad.dtype == net.dtype
        if behaviour == "raises":
            raise ValueError("boom")
        if behaviour == "keyboard_interrupt":
            raise KeyboardInterrupt
        if behaviour == "reenters":
            net.forward(X)  # the network is busy in this very call
        if behaviour == "writes_nan":
            grad[:] = np.nan
        if behaviour == "keeps_the_view":
            kept.append(grad)
        if behaviour == "drops_the_last_reference":
            holder.clear()
        if behaviour == "sets_parameters":
            net.set_flat(before)

    # set_flat from the hook is a call into the busy network too: refused like a forward pass
    expected = {"raises": ValueError, "keyboard_interrupt": KeyboardInterrupt, "reenters": RuntimeError,
                "sets_parameters": RuntimeError, "writes_nan": FloatingPointError,
                "not_callable": TypeError}.get(behaviour)
    call = lambda: net.train_epoch(X, y, 8, optimizer="momentum",  # noqa: E731
                                   gradient_hook=3 if behaviour == "not_callable" else hook)
    if expected is not None:
        with pytest.raises(expected):
            call()
        # the epoch is undone: parameters, velocity and shuffle state as before, so the next epoch is the twin's
        np.testing.assert_array_equal(net.get_flat(), before)
        net.train_epoch(X, y, 8, optimizer="momentum")
        twin.train_epoch(X, y, 8, optimizer="momentum")
        np.testing.assert_array_equal(net.get_flat(), twin.get_flat())
        return
    loss = call()
    assert np.isfinite(loss) and np.isfinite(net.get_flat()).all()
    if behaviour == "keeps_the_view":
        del net, holder[:]
        import gc
        gc.collect()
        assert all(np.isfinite(view).all() for view in kept)  # the views keep the native buffer alive
        kept[-1][:] = 0.0  # and stay writable memory of a live object
    elif behaviour == "drops_the_last_reference":
        assert holder == []  # the call held its own reference: it finished normally


def test_a_diverging_loss_hands_the_gradient_hook_nan_once_then_stops():
    # what keeps data-parallel ranks in step: the reduction still runs, with NaN, and every rank then stops
    net = fastmlp.Network((3, 4, 1), output="identity", dtype="float64", seed=0)
    before = net.get_flat()
    Y = np.full((8, 1), 0.5)
    Y[5:] = 1e300  # the second batch's squared error overflows
    seen = []
    with pytest.raises(FloatingPointError, match="loss became inf at mini-batch 2 "):
        net.train_epoch(np.ones((8, 3)), Y, 4, shuffle=False, gradient_hook=lambda grad: seen.append(grad.copy()))
    assert len(seen) == 2 and np.isfinite(seen[0]).all() and np.isnan(seen[1]).all()
    np.testing.assert_array_equal(net.get_flat(), before)


NAN_EXP_CHILD = textwrap.dedent(r"""
    import numpy as np, fastmlp
    from fastmlp import _core
    nan = np.full((2, 5), np.nan, np.float32)
    assert np.isnan(_core.activation_forward(nan, "sigmoid")).all()
    assert np.isnan(_core.softmax_forward(nan)).all()
    Z = np.array([[np.inf, 0, 0, 0, 0], [-np.inf, 0, 0, 0, 0]], np.float32)
    loss, _ = _core.softmax_cross_entropy_forward(Z, np.eye(5, dtype=np.float32)[:2])
    assert not np.isfinite(loss)
    net = fastmlp.Network((5, 4, 3), dtype="float32", seed=0)  # sigmoid hidden units, softmax output
    def poison(grad):
        grad[:] = np.nan
    try:
        net.train_epoch(np.ones((16, 5)), np.arange(16) % 3, 4, gradient_hook=poison)
    except FloatingPointError:
        pass
    else:
        raise AssertionError("NaN parameters did not make the epoch fail")
    assert np.isfinite(net.get_flat()).all()
    print("ok")
""")


def test_nan_and_inf_through_the_float32_fast_exp_are_defined_behaviour():
    """fast_exp(float) once converted NaN to int and shifted the negative result left (UBSan: 'left shift of
    negative value' in cpp/activations.h) whenever float32 training diverged or logits were NaN/inf. Under
    scripts/sanitize.sh this child runs instrumented."""
    proc = run_child(NAN_EXP_CHILD, timeout=120, known_sanitizer_finding=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-6000:]
    assert not any(sign in proc.stderr for sign in SANITIZER_SIGNS), proc.stderr[-6000:]


LABEL_RACE_CHILD = textwrap.dedent(r"""
    import threading, time
    import numpy as np, fastmlp
    n = 4096
    net = fastmlp.Network([16, 16, 10], seed=1)
    X = np.random.default_rng(0).standard_normal((n, 16)).astype(np.float32)
    y = np.zeros(n, np.int32)
    stop = False
    def writer():  # flips a label between valid and far out of range while train_epoch reads it without the GIL
        while not stop:
            y[n - 1] = 1 << 28
            y[n - 1] = 3
    thread = threading.Thread(target=writer)
    thread.start()
    outcomes = {"trained": 0, "refused": 0}
    try:
        start = time.time()
        while time.time() - start < 2:
            try:
                net.train_epoch(X, y, 256)
                outcomes["trained"] += 1
            except ValueError as exc:  # by the Python check before the call, or the core's during it
                assert "is outside [0, 10)" in str(exc) or "outside the 10 classes [0, 10)" in str(exc), exc
                outcomes["refused"] += 1
    finally:
        stop = True
        thread.join()
    assert np.isfinite(net.get_flat()).all()
    print(outcomes)
""")


def test_labels_changed_by_another_thread_mid_call_are_refused_not_written_out_of_bounds():
    # each label is read once and checked where it indexes its one-hot row; a check in an earlier pass let a
    # label changed in between write outside the workspace (a segfault within a second)
    done = run_child(LABEL_RACE_CHILD, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
