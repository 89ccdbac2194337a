"""Data-parallel training over MPI (``fastmlp.distributed``): two ranks under ``mpiexec -n 2`` must end with
the weights of one process trained with the same global batch (shuffle=False), on the shipped MNIST sample.

Skipped when mpi4py or ``mpiexec`` is missing (``pip install fastmlp[mpi]``).
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec")
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec on PATH (pip install fastmlp[mpi])")

import fastmlp  # noqa: E402
from fastmlp import distributed  # noqa: E402
from fastmlp.datasets import load_mnist  # noqa: E402

N_SAMPLES, LOCAL_BATCH, N_RANKS, EPOCHS = 2048, 32, 2, 3
GLOBAL_BATCH = LOCAL_BATCH * N_RANKS

PREAMBLE = """\
import sys
import numpy as np
from mpi4py import MPI
import fastmlp
from fastmlp import distributed
from fastmlp.datasets import load_mnist

comm = MPI.COMM_WORLD
X, y = load_mnist("train", sample=True)
X, y = distributed.shard(X[:{n}].astype(np.float64), y[:{n}], comm, {b})
"""


def run_mpi(tmp_path, body, *args):
    script = tmp_path / "job.py"
    script.write_text(PREAMBLE.format(n=N_SAMPLES, b=LOCAL_BATCH) + textwrap.dedent(body))
    return run_command([sys.executable, str(script), *map(str, args)], tmp_path)


def run_command(command, cwd, expect_success=True, **env):
    # one thread per rank: the two ranks share this machine's cores
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **env)
    done = subprocess.run([MPIEXEC, "-n", str(N_RANKS), *command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    if expect_success:
        assert done.returncode == 0, f"mpiexec failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def single_process_data():
    X, y = load_mnist("train", sample=True)
    return X[:N_SAMPLES].astype(np.float64), y[:N_SAMPLES]


def check_ranks_agree(tmp_path):
    thetas = [np.load(tmp_path / f"theta{rank}.npy") for rank in range(N_RANKS)]
    for theta in thetas[1:]:
        np.testing.assert_array_equal(theta, thetas[0])  # every rank took the same steps
    return thetas[0]


def test_shard_layout_matches_global_batches():
    for n, b, size in [(2048, 32, 2), (1000, 7, 3), (10, 4, 4), (5, 100, 2)]:
        shards = [distributed.shard_indices(n, b, r, size) for r in range(size)]
        assert len({len(s) for s in shards}) == 1
        covered = np.sort(np.concatenate(shards))
        np.testing.assert_array_equal(covered, np.arange(n - n % size))  # each sample once, ≤ size-1 left out
        local_n = len(shards[0])
        for first in range(0, local_n, b):  # local batch k of every rank = global batch k, in rank order
            together = np.concatenate([s[first:first + b] for s in shards])
            np.testing.assert_array_equal(together, np.arange(len(together)) + first * size)


@pytest.mark.parametrize("bad", [dict(batch_size=64.5), dict(n_samples=1000.0), dict(rank=np.float64(0))])
def test_shard_indices_refuses_non_integers(bad):
    arguments = dict(n_samples=1000, batch_size=64, rank=0, size=2) | bad
    with pytest.raises(TypeError, match="must be integers"):
        distributed.shard_indices(**arguments)
    distributed.shard_indices(np.int64(1000), np.int32(64), 0, 2)  # NumPy integers are integers


def test_network_train_epoch_equals_single_process(tmp_path):
    run_mpi(tmp_path, f"""
        net = fastmlp.Network((784, 32, 10), dtype="float64", seed=7)
        losses = [distributed.train_epoch(net, X, y, {LOCAL_BATCH}, comm, optimizer="sgd", learning_rate=0.1,
                                          shuffle=False) for _ in range({EPOCHS})]
        np.save(f"theta{{comm.rank}}.npy", net.get_flat())
        np.save(f"loss{{comm.rank}}.npy", np.array(losses))
        """)
    theta = check_ranks_agree(tmp_path)
    X, y = single_process_data()
    net = fastmlp.Network((784, 32, 10), dtype="float64", seed=7)
    losses = [net.train_epoch(X, y, GLOBAL_BATCH, optimizer="sgd", learning_rate=0.1, shuffle=False)
              for _ in range(EPOCHS)]
    assert not np.allclose(theta, fastmlp.Network((784, 32, 10), dtype="float64", seed=7).get_flat())
    np.testing.assert_allclose(theta, net.get_flat(), rtol=1e-10, atol=1e-13)
    for rank in range(N_RANKS):  # every rank reports the loss over all samples
        np.testing.assert_allclose(np.load(tmp_path / f"loss{rank}.npy"), losses, rtol=1e-10)


@pytest.mark.parametrize("solver", ["sgd", "momentum"])
def test_mlp_classifier_fit_with_comm_equals_single_process(tmp_path, solver):
    kwargs = dict(hidden_layer_sizes=(32,), solver=solver, learning_rate=0.05, max_epochs=EPOCHS,
                  shuffle=False, dtype="float64", random_state=3, tol=0.0, n_iter_no_change=EPOCHS + 1)
    run_mpi(tmp_path, f"""
        clf = fastmlp.MLPClassifier(batch_size={LOCAL_BATCH}, **{kwargs!r}).fit(X, y, comm=comm)
        np.save(f"theta{{comm.rank}}.npy", clf.network_.get_flat())
        np.save(f"loss{{comm.rank}}.npy", np.array(clf.loss_curve_))
        """)
    theta = check_ranks_agree(tmp_path)
    X, y = single_process_data()
    clf = fastmlp.MLPClassifier(batch_size=GLOBAL_BATCH, **kwargs).fit(X, y)
    np.testing.assert_allclose(theta, clf.network_.get_flat(), rtol=1e-10, atol=1e-13)
    for rank in range(N_RANKS):
        np.testing.assert_allclose(np.load(tmp_path / f"loss{rank}.npy"), clf.loss_curve_, rtol=1e-10)


def test_shuffled_fit_keeps_ranks_in_step_without_a_seed(tmp_path):
    # random_state=None: rank 0's seeds are broadcast, so the ranks start and stay identical
    run_mpi(tmp_path, """
        clf = fastmlp.MLPClassifier((16,), solver="adam", batch_size=64, max_epochs=2, dtype="float64")
        clf.fit(X, y, comm=comm)
        np.save(f"theta{comm.rank}.npy", clf.network_.get_flat())
        assert list(clf.classes_) == list(range(10))
        """)
    check_ranks_agree(tmp_path)


def test_a_divergence_on_one_rank_stops_every_rank_at_the_same_mini_batch(tmp_path):
    # rank 1's targets make its squared error overflow at its first batch; rank 0's loss stays finite. Without the
    # NaN gradient rank 1 reduces, rank 0 would wait in the allreduce forever (run_command's timeout fails it).
    run_mpi(tmp_path, f"""
        net = fastmlp.Network((784, 8, 1), output="identity", dtype="float64", seed=1)
        Y = np.full((len(X), 1), 1e300 if comm.rank == 1 else 0.5)
        before = net.get_flat()
        try:
            distributed.train_epoch(net, X, Y, {LOCAL_BATCH}, comm, optimizer="momentum", learning_rate=0.1)
        except FloatingPointError as exc:
            np.save(f"theta{{comm.rank}}.npy", net.get_flat())
            assert np.array_equal(net.get_flat(), before)  # the epoch was undone on every rank
            open(f"error{{comm.rank}}.txt", "w").write(str(exc))
        """)
    check_ranks_agree(tmp_path)
    own, other = ((tmp_path / f"error{rank}.txt").read_text() for rank in (1, 0))
    assert "loss became inf at mini-batch 1 " in own, own
    assert "another rank's loss diverged" in other and "mini-batch 1 " in other, other


def test_a_callback_that_stops_one_rank_stops_every_rank_after_the_same_epoch(tmp_path):
    # rank 1's callback asks to stop after epoch 2, rank 0's never does: without the per-epoch agreement rank 0
    # would wait in epoch 3's first allreduce forever (run_command's timeout fails it)
    run_mpi(tmp_path, """
        stop_at = 2 if comm.rank == 1 else None
        clf = fastmlp.MLPClassifier((8,), max_epochs=6, n_iter_no_change=100, random_state=0,
                                    callbacks=[lambda record: record["epoch"] == stop_at])
        clf.fit(X, y, comm=comm)
        assert clf.n_iter_ == 2, clf.n_iter_
        np.save(f"theta{comm.rank}.npy", clf.network_.get_flat())
        """)
    check_ranks_agree(tmp_path)


@pytest.mark.parametrize("exception", ["KeyError", "KeyboardInterrupt"])
def test_a_callback_that_fails_on_one_rank_raises_on_every_rank(tmp_path, exception):
    run_mpi(tmp_path, f"""
        def callback(record):
            if comm.rank == 0 and record["epoch"] == 2:
                raise {exception}("injected on rank 0")
        clf = fastmlp.MLPClassifier((8,), max_epochs=6, random_state=0, callbacks=[callback])
        try:
            clf.fit(X, y, comm=comm)
        except ({exception}, RuntimeError) as exc:
            open(f"error{{comm.rank}}.txt", "w").write(f"{{type(exc).__name__}}: {{exc}}")
        """)
    own, other = ((tmp_path / f"error{rank}.txt").read_text() for rank in (0, 1))
    assert own.startswith(exception) and "injected on rank 0" in own, own
    assert other.startswith("RuntimeError") and "rank 0 of the data-parallel job failed at the end of an " \
        f"epoch ({exception}: " in other, other


def test_ranks_given_different_max_epochs_are_told_so(tmp_path):
    run_mpi(tmp_path, """
        clf = fastmlp.MLPClassifier((8,), max_epochs=2 if comm.rank == 1 else 4, random_state=0)
        try:
            clf.fit(X, y, comm=comm)
        except ValueError as exc:
            open(f"error{comm.rank}.txt", "w").write(str(exc))
        """)
    for rank in (0, 1):
        text = (tmp_path / f"error{rank}.txt").read_text()
        assert "same max_epochs on every rank" in text and "rank 0 4, rank 1 2" in text, text


def test_ranks_that_disagree_are_told_so_on_every_rank(tmp_path):
    run_mpi(tmp_path, f"""
        net = fastmlp.Network((784, 8, 10), dtype="float64", seed=1)
        try:
            distributed.train_epoch(net, X, y, {LOCAL_BATCH} + comm.rank, comm, learning_rate=0.1)
        except ValueError as exc:
            open(f"error{{comm.rank}}.txt", "w").write(str(exc))
        """)
    for rank in range(N_RANKS):
        message = (tmp_path / f"error{rank}.txt").read_text()
        assert f"same batch_size on every rank; got batch_size: rank 0 {LOCAL_BATCH}, rank 1 {LOCAL_BATCH + 1}" \
            in message, message


@pytest.mark.parametrize("bad_input, words", [
    ("X[3, 5] = np.nan", "X contains NaN or infinity"),
    ("y[0] = 12", "label 12"),
    ("options['learning_rate'] = float('nan')", "learning_rate"),
    ("options['learning_rat'] = 0.1", "unexpected keyword argument 'learning_rat'"),
])
def test_bad_input_on_one_rank_raises_on_every_rank(tmp_path, bad_input, words):
    # checked before any allreduce: rank 0 must not be left waiting in one for rank 1's refused epoch
    run_mpi(tmp_path, f"""
        net = fastmlp.Network((784, 8, 10), dtype="float64", seed=1)
        X, y, options = X.copy(), y.copy(), dict(learning_rate=0.1)
        if comm.rank == 1:
            {bad_input}
        try:
            distributed.train_epoch(net, X, y, {LOCAL_BATCH}, comm, **options)
        except (TypeError, ValueError) as exc:
            open(f"error{{comm.rank}}.txt", "w").write(type(exc).__name__ + ": " + str(exc))
        """)
    own, other = ((tmp_path / f"error{rank}.txt").read_text() for rank in (1, 0))
    kind = own.split(":")[0]  # the failing rank raises its own error, the others one of the same type naming it
    assert words in own and not own.startswith(f"{kind}: rank 1 of"), own
    assert other.startswith(f"{kind}: rank 1 of the data-parallel job refused its arguments ({kind}: "), other
    assert words in other, other


def test_ranks_may_pass_different_dtypes_converted_alike(tmp_path):
    run_mpi(tmp_path, f"""
        net = fastmlp.Network((784, 8, 10), dtype="float64", seed=1)
        distributed.train_epoch(net, X.astype(np.float32) if comm.rank else X, y, {LOCAL_BATCH}, comm)
        np.save(f"theta{{comm.rank}}.npy", net.get_flat())
        """)
    check_ranks_agree(tmp_path)


def test_lbfgs_and_early_stopping_refuse_comm(tmp_path):
    run_mpi(tmp_path, """
        for kwargs in ({"solver": "lbfgs"}, {"early_stopping": True}):
            try:
                fastmlp.MLPClassifier((8,), **kwargs).fit(X, y, comm=comm)
            except ValueError as exc:
                assert "comm" in str(exc), exc
            else:
                raise AssertionError(f"{kwargs} accepted with comm")
        """)


def test_cli_train_under_mpiexec_writes_one_model(tmp_path):
    done = run_command([sys.executable, "-m", "fastmlp", "train", "--model", "mlp", "--hidden", "32", "--sample",
                        "--epochs", "2", "--out", "m.npz"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]
    assert done.stdout.count("Saved to m.npz") == 1, done.stdout
    model = fastmlp.load(tmp_path / "m.npz")
    assert model.n_iter_ == 2
    X, y = load_mnist("test", sample=True)
    assert model.score(X, y) > 0.5


def test_cli_train_under_mpiexec_says_once_that_it_falls_back_to_the_sample(tmp_path):
    (tmp_path / "empty").mkdir()
    done = run_command([sys.executable, "-m", "fastmlp", "train", "--model", "softmax", "--data-dir", "empty",
                        "--no-download", "--epochs", "1", "--out", "m.npz"], tmp_path,
                       HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"), FASTMLP_DATA="")
    assert done.stderr.count("uses the SHIPPED SAMPLE") == 1, done.stderr
    assert fastmlp.load(tmp_path / "m.npz").n_iter_ == 1


SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COUNTING_CLI = """\
import json, sys
from mpi4py import MPI
from fastmlp import cli
from fastmlp.datasets import cache, mnist
whole, rows = [], []
read_idx, read_rows = cache.read_idx, mnist.read_idx_rows_cached
cache.read_idx = lambda path: whole.append(str(path)) or read_idx(path)
mnist.read_idx_rows_cached = lambda path, r, **kw: rows.append(len(r)) or read_rows(path, r, **kw)
code = cli.main(sys.argv[1:])
with open(f"reads{MPI.COMM_WORLD.rank}.json", "w") as f:
    json.dump({"whole_files": whole, "rows": rows, "code": code}, f)
sys.exit(code)
"""


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason=f"official MNIST not in {SHARED_DATA}")
def test_cli_train_under_mpiexec_reads_only_each_ranks_shard(tmp_path):
    (tmp_path / "cli.py").write_text(COUNTING_CLI)
    command = [sys.executable, "cli.py", "train", "--model", "softmax", "--data-dir", str(SHARED_DATA), "--split",
               "train", "--epochs", "1", "--batch-size", "50", "--no-download", "--out", "m.npz"]
    for attempt in ("cache built by rank 0", "cache already valid"):
        done = run_command(command, tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache"))
        assert "on 2 MPI ranks (30,000 images each" in done.stderr + done.stdout, attempt
        reads = [json.loads((tmp_path / f"reads{rank}.json").read_text()) for rank in range(N_RANKS)]
        # rank 0 decodes the two IDX files once to build the array cache; after that nobody reads a whole file
        assert len(reads[0]["whole_files"]) == (2 if attempt == "cache built by rank 0" else 0), reads[0]
        assert reads[1]["whole_files"] == [], reads[1]
        # each rank then reads its 30,000 images (rank 0 also 0 rows first); the labels (60 kB) come whole from
        # the array cache, as they tell MNIST from Fashion-MNIST
        for rank_reads in reads:
            assert rank_reads["code"] == 0 and [n for n in rank_reads["rows"] if n] == [30000], rank_reads
    model = fastmlp.load(tmp_path / "m.npz")
    X, y = load_mnist("test", data_dir=SHARED_DATA, download=False)
    assert model.score(X, y) > 0.85


def test_an_error_on_one_rank_aborts_the_whole_job(tmp_path):
    # rank 1 fails before training; without the abort rank 0 would wait in its first allreduce forever
    (tmp_path / "cli.py").write_text(textwrap.dedent("""\
        import sys
        from mpi4py import MPI
        import fastmlp
        from fastmlp import cli
        if MPI.COMM_WORLD.rank == 1:
            def broken_fit(self, *args, **kwargs):
                raise RuntimeError("injected failure on rank 1")
            fastmlp.MLPClassifier.fit = broken_fit
        sys.exit(cli.main(sys.argv[1:]))
        """))
    done = run_command([sys.executable, "cli.py", "train", "--model", "mlp", "--hidden", "8", "--sample",
                        "--epochs", "50", "--out", "m.npz"], tmp_path, expect_success=False)
    assert done.returncode != 0
    assert "injected failure on rank 1" in done.stderr
    assert not (tmp_path / "m.npz").exists()


def test_sweep_under_mpiexec_deals_runs_to_ranks_and_isolates_a_crash(tmp_path):
    from fastmlp.study.sweep import CRASH_ENV
    done = run_command([sys.executable, "-m", "fastmlp", "sweep", "--sample", "--quick", "--epochs", "1", "--hidden",
                        "8,12,16", "--quiet", "--out", "out"], tmp_path, expect_success=False, **{CRASH_ENV: "1"})
    assert done.returncode == 1, done.stderr  # run 1 (on rank 1) crashed; the job itself completed
    document = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert document["mpi_ranks"] == 2 and document["jobs"] == 1
    assert [r["hidden"] for r in document["runs"]] == [8, 12, 16]
    assert [r["status"] == "ok" for r in document["runs"]] == [True, False, True]
    assert "died" in document["runs"][1]["status"]
    assert done.stdout.count("runs succeeded") == 1  # one table, written by rank 0


THREADS_CLI = """\
import sys
import fastmlp
from mpi4py import MPI
from fastmlp import cli, distributed
code = cli.main(sys.argv[1:])
share = distributed.threads_per_rank(MPI.COMM_WORLD)
with open(f"threads{MPI.COMM_WORLD.rank}.txt", "w") as f:  # a file per rank: their stdout lines interleave
    f.write(f"{fastmlp.get_num_threads()} {share}")
sys.exit(code)
"""


def test_ranks_on_one_machine_share_its_cores(tmp_path):
    """Without --threads or OMP_NUM_THREADS, `fastmlp train` under mpiexec runs cores ÷ ranks threads per rank
    (each rank taking every core made the ranks fight over them: 14× slower on 2 cores)."""
    (tmp_path / "cli.py").write_text(THREADS_CLI)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    command = [MPIEXEC, "-n", str(N_RANKS), sys.executable, "cli.py", "train", "--model", "softmax", "--sample",
               "--epochs", "1", "--out", "m.npz"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = max(1, len(os.sched_getaffinity(0)) // N_RANKS)

    def reports():
        return [tuple(map(int, (tmp_path / f"threads{rank}.txt").read_text().split())) for rank in range(N_RANKS)]
    assert reports() == [(expected, expected)] * N_RANKS
    done = subprocess.run(command + ["--threads", "2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert reports() == [(2, expected)] * N_RANKS   # --threads decides


def test_missing_mpi4py_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"pip install fastmlp\[mpi\]"):
        distributed.allreduce_gradients_hook(object())


def test_no_launcher_means_no_mpi(monkeypatch):
    for name in distributed._LAUNCHER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # would fail if it were imported
    assert distributed.launched_world() is None


def test_mpi_scaling_benchmark_smoke_run(tmp_path):
    """benchmarks/mpi_scaling.py --quick: samples/s for 1 rank × 2 threads, 1 × 1 and 2 ranks × 1 (no timing
    assertion, only that every configuration ran and reported its communication volume)."""
    import json
    from pathlib import Path
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "mpi_scaling.py"
    out = tmp_path / "scaling.json"
    subprocess.run([sys.executable, str(script), "--quick", "--json", str(out)], check=True, capture_output=True,
                   text=True, timeout=300)
    rows = json.loads(out.read_text())["rows"]
    assert [(r["ranks"], r["threads_per_rank"]) for r in rows] == [(1, 2), (1, 1), (2, 1)]
    for r in rows:
        assert r["samples_per_second"] > 0 and r["bytes_per_step"] == 4 * r["n_parameters"]
    assert rows[2]["allreduce_seconds"] > 0
