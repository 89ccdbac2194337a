"""Ctrl-C during training: the native epoch loop looks for signals every ~50 ms between mini-batches, so
SIGINT stops a long ``train_epoch`` or ``fit`` promptly with KeyboardInterrupt; the network is restored to
the start of the interrupted epoch (parameters, optimizer state and shuffle state), and an estimator keeps
the state of its last finished epoch. Inference (``forward``, and through it every ``predict``) looks between
its chunks of 4,096 rows.

Each scenario runs in a child process that trains for several seconds and tells the parent (on stdout)
when it started and when each epoch ended; the parent sends SIGINT in the middle of an epoch and reads the
child's report (JSON).
"""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: the one timing bound of the suite: from the signal to the KeyboardInterrupt being caught
PROMPT_SECONDS = 1.0

CHILD = textwrap.dedent(r'''
    import json, signal, sys, time
    import numpy as np
    import fastmlp

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if the parent ignores SIGINT
    mode = sys.argv[1]
    fastmlp.set_num_threads(int(sys.argv[2]))
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40000, 256)).astype(np.float32)
    y = rng.integers(0, 10, 40000)
    report = {"mode": mode}

    def say(*words):
        print(*words, flush=True)

    if mode in ("train_epoch", "single_batch"):
        # single_batch: all 40,000 rows in one batch, so no check inside the epoch (~1 s)
        batch = 16 if mode == "train_epoch" else len(X)

        def make():
            net = fastmlp.Network((256, 2048, 10), seed=0)
            net.train_epoch(X[:512], y[:512], 16, optimizer="adam", learning_rate=0.001)  # optimizer state exists
            return net
        net, twin = make(), make()
        snapshot, shuffle_state = net.get_flat(), net._net.shuffle_state
        say("started", time.monotonic())
        try:
            net.train_epoch(X, y, batch, optimizer="adam", learning_rate=0.001)  # several seconds
            report["interrupted"] = False
        except KeyboardInterrupt as exc:
            report["caught_at"] = time.monotonic()
            report["interrupted"] = True
            report["params_restored"] = bool(np.array_equal(net.get_flat(), snapshot))
            report["shuffle_restored"] = net._net.shuffle_state == shuffle_state
            # optimizer state restored too: the next epoch equals the uninterrupted twin's
            small_X, small_y = X[:512], y[:512]
            loss = net.train_epoch(small_X, small_y, 16, optimizer="adam", learning_rate=0.001)
            twin_loss = twin.train_epoch(small_X, small_y, 16, optimizer="adam", learning_rate=0.001)
            report["next_epoch_identical"] = bool(np.array_equal(net.get_flat(), twin.get_flat())) and loss == twin_loss
            report["finite"] = bool(np.isfinite(net.forward(X[:100])).all())
    elif mode == "predict":
        # inference runs in chunks of 4,096 rows (~0.15 s each here) and looks for signals between them
        Xp = rng.uniform(0, 1, (120000, 64)).astype(np.float32)  # ~1 TFLOP in all: several seconds
        net, twin = fastmlp.Network((64, 2048, 2048, 10), seed=0), fastmlp.Network((64, 2048, 2048, 10), seed=0)
        say("started", time.monotonic())
        try:
            net.forward(Xp)
            report["interrupted"] = False
        except KeyboardInterrupt:
            report["caught_at"] = time.monotonic()
            report["interrupted"] = True
            report["params_unchanged"] = bool(np.array_equal(net.get_flat(), twin.get_flat()))
            # not left busy or half-configured: the next call works and matches an untouched twin
            report["next_call_identical"] = bool(np.array_equal(net.forward(Xp[:5000]), twin.forward(Xp[:5000])))
    else:  # fit, fit_gd: an estimator, a line per finished epoch
        finished = []

        def remember(record):
            finished.append((record["epoch"], clf.network_.get_flat()))
            say("epoch", record["epoch"], time.monotonic())

        solver = "sgd" if mode == "fit" else "gd"
        clf = fastmlp.MLPClassifier((512,), solver=solver, learning_rate=0.01, batch_size=16, max_epochs=10_000,
                                    n_iter_no_change=10_000, random_state=0, callbacks=[remember])
        Xs, ys = (X, y) if mode == "fit" else (X[:10000], y[:10000])  # fit: epochs of ~1 s
        say("started", time.monotonic())
        try:
            clf.fit(Xs, ys)
            report["interrupted"] = False
        except KeyboardInterrupt:
            report["caught_at"] = time.monotonic()
            report["interrupted"] = True
            report["epochs_finished"] = len(finished)
            report["n_iter"] = clf.n_iter_
            report["loss_curve_length"] = len(clf.loss_curve_)
            report["history_length"] = len(clf.history_)
            last_epoch, last_params = finished[-1] if finished else (0, None)
            report["last_epoch"] = last_epoch
            report["params_of_last_finished_epoch"] = bool(last_params is not None and
                                                           np.array_equal(clf.network_.get_flat(), last_params))
            report["finite"] = bool(np.isfinite(clf.predict_proba(Xs[:100])).all())
            clf.partial_fit(Xs[:256], ys[:256])  # still usable: training continues from there
            report["continued"] = clf.n_iter_ == report["n_iter"] + 1
    say(json.dumps(report))
''')


def interrupt_child(mode, threads, after_epochs=0, delay=0.5):
    """Run the child; send SIGINT ``delay`` s after it started (or, with ``after_epochs``, in the middle of
    the epoch after that many finished ones). Returns (report, seconds from the signal to the catch)."""
    with subprocess.Popen([sys.executable, "-c", CHILD, mode, str(threads)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline().split()
            expected = ["started"] + ["epoch"] * after_epochs
            seen = []
            while line and len(seen) < len(expected) and line[0] == expected[len(seen)]:
                seen.append(line)
                if len(seen) < len(expected):
                    line = proc.stdout.readline().split()
            if len(seen) == len(expected):
                last = float(seen[0][1])
                target = last + delay
                for epoch_line in seen[1:]:
                    target = 1.5 * float(epoch_line[2]) - 0.5 * last  # half-way through the next epoch
                    last = float(epoch_line[2])
                time.sleep(max(0.0, target - time.monotonic()))
                sent_at = time.monotonic()  # CLOCK_MONOTONIC: the same clock in both processes on Linux
                os.kill(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert len(seen) == len(expected), f"unexpected output {line!r}: {out[-2000:]} {err[-3000:]}"
    assert proc.returncode == 0, err[-4000:]
    report = json.loads(out.strip().splitlines()[-1])
    return report, report.get("caught_at", float("inf")) - sent_at


@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_during_train_epoch_restores_the_start_of_the_epoch(threads):
    report, latency = interrupt_child("train_epoch", threads)
    assert report["interrupted"], "the epoch finished before the signal: make the child's epoch longer"
    assert latency < PROMPT_SECONDS, f"KeyboardInterrupt came {latency:.2f} s after SIGINT"
    assert report["params_restored"], "parameters differ from the snapshot taken before the epoch"
    assert report["shuffle_restored"], "the shuffle state moved on"
    assert report["next_epoch_identical"], "optimizer state not restored: the next epoch differs from a twin's"
    assert report["finite"]


@pytest.mark.parametrize("threads", [1, 2])
def test_ctrl_c_during_inference_stops_it_promptly(threads):
    report, latency = interrupt_child("predict", threads)
    assert report["interrupted"], "inference finished before the signal: give the child more rows"
    assert latency < PROMPT_SECONDS, f"KeyboardInterrupt came {latency:.2f} s after SIGINT"
    assert report["params_unchanged"] and report["next_call_identical"]


def check_fit_report(report):
    assert report["interrupted"]
    assert report["epochs_finished"] >= 2
    assert report["n_iter"] == report["epochs_finished"] == report["last_epoch"]
    assert report["loss_curve_length"] == report["history_length"] == report["n_iter"]
    assert report["params_of_last_finished_epoch"], "the model is not the one of its last finished epoch"
    assert report["finite"] and report["continued"]


def test_ctrl_c_during_fit_keeps_the_last_finished_epoch():
    report, latency = interrupt_child("fit", 1, after_epochs=2)
    assert latency < PROMPT_SECONDS, f"KeyboardInterrupt came {latency:.2f} s after SIGINT"
    check_fit_report(report)


def test_ctrl_c_during_a_single_batch_epoch_restores_its_start():
    """A SIGINT after the epoch loop's last signal check (always, in a one-batch epoch) was once acted upon only
    after the call returned: KeyboardInterrupt with the parameters of the completed epoch."""
    report, _ = interrupt_child("single_batch", 1, delay=0.5)
    assert report["interrupted"]
    assert report["params_restored"], "parameters are those after the epoch, not those from before it"
    assert report["shuffle_restored"] and report["next_epoch_identical"] and report["finite"]


def test_ctrl_c_during_full_batch_fit_keeps_the_last_finished_epoch():
    """The same late KeyboardInterrupt once left fit with epoch n_iter_+1's parameters and n_iter_ epochs of
    bookkeeping."""
    report, _ = interrupt_child("fit_gd", 1, after_epochs=2)
    check_fit_report(report)
