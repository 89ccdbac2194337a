"""The training step allocates nothing: malloc/calloc/realloc/memalign calls are counted by an LD_PRELOAD shim in a
subprocess, and an epoch of 1,000 mini-batches must make no more calls than an epoch of 10; 1,000 calls of
loss_and_grad on a batch it runs in chunks no more calls than 1,000 on a batch it runs whole."""
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import fastmlp

SHIM = r"""
#include <stddef.h>
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static size_t calls;
void *malloc(size_t n) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); return __libc_realloc(p, n); }
/* aligned allocations too: libgomp allocates its teams with these, C++ aligned new comes here */
void *memalign(size_t a, size_t n) { __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { return memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n) {
    void *r = memalign(a, n);
    if (!r) return 12; /* ENOMEM */
    *p = r;
    return 0;
}
size_t allocation_calls(void) { return __atomic_load_n(&calls, __ATOMIC_RELAXED); }
"""

SCRIPT = textwrap.dedent("""
    import ctypes, json, sys
    import numpy as np
    import fastmlp
    count = ctypes.CDLL(None).allocation_calls
    count.restype = ctypes.c_size_t
    rng = np.random.default_rng(0)
    results = {}
    labels = lambda n: rng.integers(0, 10, n).astype(np.int32)
    # (name, network, targets, batch size): batches of 8 run every loop on the calling thread; the wide net's
    # batches of 256 fork some loops and not others (a region of one thread between regions of two once made
    # libgomp allocate a team per region)
    for name, config, targets, batch in [
            ("mlp", dict(layer_sizes=(64, 32, 10)), labels, 8),
            ("wide_mlp", dict(layer_sizes=(64, 128, 10)), labels, 256),
            ("sparse_ae", dict(layer_sizes=(64, 16, 64), output="sigmoid", loss="squared_error",
                               sparsity_target=0.1, sparsity_weight=3.0, weight_decay=1e-4), None, 8)]:
        for optimizer in ("sgd", "momentum", "adam"):
            net = fastmlp.Network(**config, seed=0)
            calls = {}
            for batches in (10, 1000, 10):  # the first 10-batch epoch warms up the workspace
                X = rng.uniform(size=(batch * batches, 64)).astype(np.float32)
                Y = targets(len(X)) if targets else X
                before = count()
                net.train_epoch(X, Y, batch, optimizer=optimizer)
                calls[batches] = count() - before
            results[f"{name}/{optimizer}"] = calls
        # loss_and_grad of a batch large enough to run in per-thread chunks (cpp/full_batch.cpp) against one
        # small enough to run whole: the same calls at the Python boundary, and nothing more inside
        net = fastmlp.Network(**config, seed=0)
        calls = {}
        for rows in (100, 3000):
            X = rng.uniform(size=(rows, 64)).astype(np.float32)
            Y = targets(len(X)) if targets else X
            net._net.loss_and_grad(X, Y, True)  # warms up the workspace
            before = count()
            for _ in range(1000):
                net._net.loss_and_grad(X, Y, True)
            calls["whole" if rows == 100 else "chunks"] = count() - before
        results[f"{name}/loss_and_grad"] = calls
    json.dump(results, sys.stdout)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the malloc shim uses glibc's __libc_malloc")
@pytest.mark.skipif(fastmlp.build_info()["blas"] not in ("scipy-openblas32", "mkl"),
                    reason="a system BLAS may allocate inside its own threaded products (Debian's OpenBLAS 0.3.21 "
                           "mallocs its job arrays in every threaded sgemm); the vendored OpenBLAS and MKL's "
                           "sequential layer run single-threaded")
def test_train_epoch_and_loss_and_grad_allocate_nothing_per_step(tmp_path):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the malloc-counting shim")
    shim = tmp_path / "count_malloc.so"
    (tmp_path / "shim.c").write_text(SHIM)
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(shim), str(tmp_path / "shim.c")], check=True)
    env = dict(os.environ, LD_PRELOAD=str(shim))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    import json
    for case, calls in json.loads(out.stdout).items():
        # the Python boundary (argument checks, the result) allocates a fixed handful per call; the epoch
        # loop itself must add nothing, so 1,000 mini-batches cost no more calls than 10, and 1,000 chunked
        # loss_and_grad calls no more than 1,000 whole-batch ones
        if case.endswith("loss_and_grad"):
            assert calls["chunks"] <= calls["whole"] + 5, (case, calls)
        else:
            assert calls["1000"] <= calls["10"] + 5, (case, calls)
