"""The thread count: set_num_threads takes effect, rejects what is not a positive int, applies to every Python
thread (not only the caller's OpenMP ICV), and leaves results reproducible with one thread and close with more;
importing fastmlp leaves the user's OPENBLAS_THREAD_TIMEOUT as it was.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastmlp


def test_set_num_threads_takes_effect(threads):
    for n in (1, 2, 3, 1):
        fastmlp.set_num_threads(n)
        assert fastmlp.get_num_threads() == n
        assert fastmlp.build_info()["threads"] == str(n)
    for bad in (0, -1, 1.5, True, "2", None):
        with pytest.raises(ValueError, match=r"\bn\b"):
            fastmlp.set_num_threads(bad)
    assert fastmlp.get_num_threads() == 1


def test_results_with_one_thread_are_reproducible_and_close_to_more_threads(threads):
    rng = np.random.default_rng(4)
    X, y = rng.uniform(0, 1, (2000, 64)).astype(np.float32), rng.integers(0, 10, 2000)
    results = {}
    for n in (1, 2, 1):
        fastmlp.set_num_threads(n)
        net = fastmlp.Network((64, 128, 10), seed=0)
        net.train_epoch(X, y, 64, optimizer="adam", learning_rate=0.01)
        results.setdefault(n, []).append(net.get_flat())
    np.testing.assert_array_equal(results[1][0], results[1][1])
    np.testing.assert_allclose(results[2][0], results[1][0], rtol=1e-3, atol=1e-4)


OMP_CHILD = textwrap.dedent(r"""
    import json, os, threading
    import numpy as np
    import fastmlp

    fastmlp.set_num_threads(1)
    net = fastmlp.Network((64, 512, 10), seed=0)
    X, y = np.ones((256, 64), np.float32), np.arange(256) % 10  # 256 x 512 activations: past the fork threshold
    net.forward(X)
    seen = {}

    def work():
        before = len(os.listdir("/proc/self/task"))
        net.forward(X)
        net.train_epoch(X, y, 256)
        seen["extra_threads"] = len(os.listdir("/proc/self/task")) - before

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    print(json.dumps(seen))
""")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")
def test_set_num_threads_applies_to_other_python_threads():
    # set_num_threads once set only the calling thread's OpenMP ICV (omp_set_num_threads): a network used
    # from another Python thread forked the default number of threads (7x slower epochs on 2 busy cores).
    # Behaviour, not mechanism: after set_num_threads(1), a network used from a new Python thread must not
    # start any OpenMP threads (the process's thread count stays the same during its calls).
    proc = subprocess.run([sys.executable, "-c", OMP_CHILD], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    extra = json.loads(proc.stdout.strip().splitlines()[-1])["extra_threads"]
    assert extra == 0, f"set_num_threads(1) in the main thread; a call from another thread started {extra} more"


IMPORT_CHILD = textwrap.dedent("""
    import os, sys
    chosen = sys.argv[1]
    if chosen != "-":
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = chosen
    import fastmlp
    print(os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset"))
""")


@pytest.mark.parametrize("chosen, left", [("-", "unset"), ("9", "9")])
def test_importing_leaves_the_openblas_thread_timeout_as_it_was(chosen, left):
    # fastmlp sets it only while its own OpenBLAS loads (whose idle server thread must not spin), and never
    # overrides a value the user chose
    proc = subprocess.run([sys.executable, "-c", IMPORT_CHILD, chosen], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == left
