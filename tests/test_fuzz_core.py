"""The private ``_core`` kernels and native networks, called with wrong dtypes, shapes and layouts in a
subprocess, so that a crash fails the test instead of killing pytest (issue 7).

Every kernel call must either raise TypeError/ValueError or be accepted by the NumPy reference
(``fastmlp.reference``) too and agree with it.
"""
import json
import os
import textwrap

from fuzz_helpers import run_child


# ----------------------------------------------------------------------------- the private core, in a subprocess
CHILD = textwrap.dedent(r'''
    import json, sys
    import numpy as np
    from hypothesis import HealthCheck, given, settings, strategies as st
    from fastmlp import _core, reference as ref

    KERNELS = {
        # name: (array arguments as shape templates over the sizes n, m, k; scalar arguments)
        "activation_forward": ([("Z", "nm")], [("activation", "act")]),
        "activation_backward": ([("dA", "nm"), ("A", "nm"), ("per_unit_grad", "m?")], [("activation", "act")]),
        "softmax_forward": ([("Z", "nm")], []),
        "softmax_backward": ([("dYhat", "nm"), ("Yhat", "nm")], []),
        "dense_forward": ([("X", "nk"), ("W", "mk"), ("b", "m")], [("activation", "act"), ("transpose_w", "bool")]),
        "dense_backward": ([("dZ", "nm"), ("X", "nk"), ("W", "mk")], [("transpose_w", "bool")]),
        "softmax_cross_entropy_forward": ([("Z", "nm"), ("Y", "nm")], []),
        "sigmoid_binary_cross_entropy_forward": ([("Z", "nm"), ("Y", "nm")], []),
        "squared_error_forward": ([("Yhat", "nm"), ("Y", "nm")], []),
        "output_error_backward": ([("Yhat", "nm"), ("Y", "nm")], []),
        "squared_error_forward_backward": ([("Z", "nm"), ("b", "m"), ("Y", "nm")], [("activation", "act")]),
        "sparse_kl_penalty_forward": ([("H", "nm")], [("target", "frac"), ("weight", "real")]),
        "sparse_kl_penalty_backward": ([("H", "nm")], [("target", "frac"), ("weight", "real")]),
        "weight_decay_forward": ([("W", "nm")], [("weight_decay", "real")]),
        "weight_decay_backward": ([("W", "nm")], [("weight_decay", "real")]),
        "sgd_update": ([("theta", "k"), ("grad", "k")], [("learning_rate", "real")]),
        "momentum_update": ([("theta", "k"), ("velocity", "k"), ("grad", "k")],
                            [("learning_rate", "real"), ("momentum", "frac"), ("nesterov", "bool")]),
        "adam_update": ([("theta", "k"), ("m", "k"), ("v", "k"), ("grad", "k")],
                        [("learning_rate", "real"), ("beta1", "frac"), ("beta2", "frac"), ("eps", "real"),
                         ("step", "step")]),
    }
    IN_PLACE = {"sgd_update": 1, "momentum_update": 2, "adam_update": 3}
    SCALARS = {
        "act": st.sampled_from(["identity", "sigmoid", "tanh", "relu", "softmax", "bogus", "", None, 3]),
        "bool": st.sampled_from([False, True, None, "yes"]),
        "frac": st.sampled_from([0.1, 0.5, 0.9, 0.0, 1.0, -0.5, float("nan"), "x", None]),
        "real": st.sampled_from([0.0, 0.01, 1.0, -1.0, 1e30, float("inf"), float("nan"), "x", None, 2**70]),
        "step": st.sampled_from([1, 2, 100, 0, -1, 2**40, 2**63, 2**70, 1.5, None]),
    }
    LAYOUTS = ["C"] * 6 + ["F", "strided", "negative", "readonly", "0-stride"]
    DTYPES = ["same"] * 6 + ["other", "float16", "int32", "int64", "bool", "complex128", "object", "longdouble"]

    def make(values, dtype, layout):
        arr = values.astype(object) if dtype == "object" else values.astype(dtype)
        if layout == "F":
            arr = np.asfortranarray(arr)
        elif layout == "strided" and arr.ndim:
            big = np.zeros(tuple(2 * s for s in arr.shape), arr.dtype)
            view = big[tuple(slice(None, None, 2) for _ in arr.shape)]
            view[...] = arr
            arr = view
        elif layout == "negative" and arr.ndim:
            arr = np.flip(np.flip(arr).copy())
        elif layout == "readonly":
            arr = arr.copy()
            arr.flags.writeable = False
        elif layout == "0-stride" and arr.ndim and arr.size:
            arr = np.broadcast_to(arr.reshape(-1)[:1].reshape((1,) * arr.ndim), arr.shape)
        return arr

    @st.composite
    def kernel_calls(draw):
        name = draw(st.sampled_from(sorted(KERNELS)))
        arrays, scalars = KERNELS[name]
        base = draw(st.sampled_from(["float32", "float64"]))
        sizes = {s: draw(st.integers(1, 3)) for s in "nmk"}
        args, shapes = {}, {}
        for arg, template in arrays:
            optional = template.endswith("?")
            template = template.rstrip("?")
            if optional and draw(st.booleans()):
                continue
            shape = [sizes[s] for s in template]
            mutation = draw(st.sampled_from(["none"] * 5 + ["dim", "zero", "ndim+", "ndim-", "scalar"]))
            if mutation == "dim":
                i = draw(st.integers(0, len(shape) - 1))
                shape[i] = draw(st.sampled_from([1, 2, 3, 4, 5]))
            elif mutation == "zero":
                shape[draw(st.integers(0, len(shape) - 1))] = 0
            elif mutation == "ndim+":
                shape = shape + [draw(st.integers(1, 2))]
            elif mutation == "ndim-":
                shape = shape[:-1]
            if mutation == "scalar":
                args[arg] = draw(st.sampled_from([None, 1.0, [1.0, 2.0], "x"]))
                continue
            rng = np.random.default_rng(draw(st.integers(0, 1000)))
            values = rng.uniform(0.05, 0.95, shape) if name.startswith("sparse") else rng.standard_normal(shape)
            dtype = draw(st.sampled_from(DTYPES))
            dtype = {"same": base, "other": "float64" if base == "float32" else "float32"}.get(dtype, dtype)
            args[arg] = make(values, dtype, draw(st.sampled_from(LAYOUTS)))
        for arg, kind in scalars:
            args[arg] = draw(SCALARS[kind])
        return name, args

    def as_ref(v):
        return np.array(v, dtype=np.float64) if isinstance(v, np.ndarray) else v

    @settings(max_examples=int(sys.argv[1]), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(call=kernel_calls())
    def fuzz_kernels(call):
        name, args = call
        in_place = [a for a, _ in KERNELS[name][0]][:IN_PLACE.get(name, 0)]
        # the reference gets float64 copies taken before the native call updates anything in place
        ref_args = {k: as_ref(v) for k, v in args.items()}
        try:
            result = getattr(_core, name)(**args)
        except (TypeError, ValueError) as exc:
            assert str(exc), name
            return
        # Accepted: the reference must accept the same arrays (as float64) and agree.
        if in_place:
            ref_args = {k: (v.reshape(-1) if isinstance(v, np.ndarray) else v) for k, v in ref_args.items()}
        try:
            want = getattr(ref, name)(**ref_args)
        except Exception as exc:  # noqa: BLE001
            shapes = {k: getattr(v, "shape", v) for k, v in args.items()}
            raise AssertionError(f"{name} accepted arguments the reference rejects ({exc!r}): {shapes}")
        if in_place:
            result = [np.asarray(args[a]).reshape(-1) for a in in_place]
            want = [ref_args[a] for a in in_place]
        dtype = next(v.dtype for v in args.values() if isinstance(v, np.ndarray))
        tol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-10)
        got_parts = result if isinstance(result, (tuple, list)) else [result]
        want_parts = want if isinstance(want, (tuple, list)) else [want]
        assert len(got_parts) == len(want_parts), name
        for g, w in zip(got_parts, want_parts):
            np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(w, np.float64), equal_nan=True,
                                       err_msg=name, **tol)

    NET_METHOD_ARGS = st.sampled_from(["forward", "loss_and_grad", "train_epoch"])

    @st.composite
    def network_calls(draw):
        sizes = draw(st.sampled_from([[3, 2], [3, 4, 2], [2, 3, 2], [0, 2], [3], [], [2**31, 1], [-1, 2], [3, "x"]]))
        hidden = draw(st.sampled_from(["sigmoid", "relu", "softmax", "nope"]))
        output = draw(st.sampled_from(["softmax", "sigmoid", "identity", "nope"]))
        loss = draw(st.sampled_from(["cross_entropy", "binary_cross_entropy", "squared_error", "nope"]))
        target = draw(st.sampled_from([0.1, 0.0, 1.0, float("nan")]))
        weight = draw(st.sampled_from([0.0, 0.5, -1.0]))
        decay = draw(st.sampled_from([0.0, 0.01, -1.0]))
        tied = draw(st.booleans())
        state = draw(st.sampled_from([0, 2**64 - 1, -1, 2**64]))
        return (draw(st.sampled_from(["NetworkF32", "NetworkF64"])),
                (sizes, hidden, output, loss, target, weight, decay, tied, state),
                draw(st.lists(st.tuples(NET_METHOD_ARGS, st.integers(0, 10**6)), min_size=1, max_size=4)))

    @settings(max_examples=int(sys.argv[2]), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(call=network_calls())
    def fuzz_networks(call):
        cls_name, ctor, methods = call
        try:
            net = getattr(_core, cls_name)(*ctor)
        except (TypeError, ValueError, MemoryError):
            return
        T = np.float32 if cls_name == "NetworkF32" else np.float64
        sizes = ctor[0]
        net.params[:] = np.random.default_rng(0).uniform(-1, 1, net.params.shape)
        for method, seed in methods:
            rng = np.random.default_rng(seed)
            n = int(rng.integers(0, 4))
            d = sizes[0] + int(rng.integers(-1, 2)) if rng.random() < 0.3 else sizes[0]
            X = rng.uniform(0, 1, (n, max(d, 0))).astype(T if rng.random() < 0.85 else np.float64)
            if rng.random() < 0.1:
                X = np.asfortranarray(X) if X.ndim == 2 and min(X.shape) > 1 else X[::-1]
            k = sizes[-1]
            choice = rng.integers(0, 5)
            if choice == 0:
                Y = rng.integers(-1, k + 1, n + int(rng.integers(-1, 2) if rng.random() < 0.2 else 0)).astype(np.int32)
            elif choice == 1:
                Y = rng.integers(0, k, n).astype(np.int64)
            elif choice == 2:
                Y = rng.uniform(0, 1, (n, k + int(rng.integers(-1, 2) if rng.random() < 0.3 else 0))).astype(T)
            elif choice == 3:
                Y = rng.integers(0, k, n).astype(np.int32)[::-1]
            else:
                Y = rng.uniform(0, 1, (n, k)).astype(T)
            try:
                if method == "forward":
                    out = net.forward(X, int(rng.integers(-1, len(sizes))))
                    assert out.shape[0] == X.shape[0]
                elif method == "loss_and_grad":
                    net.loss_and_grad(X, Y, bool(rng.integers(0, 2)))
                else:
                    net.train_epoch(X, Y, int(rng.choice([1, 2, 7, 0, -3, 2**31 - 1])),
                                    str(rng.choice(["sgd", "momentum", "adam", "x"])), float(rng.choice([0.1, 0, -1])),
                                    0.9, bool(rng.integers(0, 2)), 0.9, 0.999, 1e-8, bool(rng.integers(0, 2)))
            except (TypeError, ValueError, FloatingPointError):
                pass
        assert np.isfinite(net.params).all()

    fuzz_kernels()
    fuzz_networks()
    print(json.dumps({"ok": True}))
''')


SANITIZER_RUN = bool(os.environ.get("FASTMLP_SANITIZER_RUN"))


def test_private_core_raises_and_never_crashes_in_a_subprocess():
    examples = 150 if SANITIZER_RUN else 400
    proc = run_child(CHILD, examples, examples // 2)
    assert proc.returncode == 0, (
        f"the _core fuzz child exited with {proc.returncode} (negative: killed by that signal)\n"
        f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-8000:]}")
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"ok": True}
