"""Crash-safe files: saving is atomic (a crash or a full disk mid-save leaves the previous file intact and no
temporary file behind), loading a damaged or foreign model file raises ValueError, and paths with spaces and
non-ASCII characters work. Damaged IDX files: test_datasets.py and test_datasets_damaged.py."""
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import fastmlp


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (30, 6))
    y = np.array(["cat", "dog", "emu"])[rng.integers(0, 3, 30)]
    small = fastmlp.SoftmaxRegression(max_epochs=2, random_state=0).fit(X, y)
    large = fastmlp.MLPClassifier((3000,), max_epochs=1, random_state=0).fit(X, y)  # 30,003 parameters: 120 kB
    ae = fastmlp.Autoencoder(n_hidden=4, max_epochs=2, random_state=0).fit(X)
    return X, small, large, ae


def files_in(directory):
    return sorted(os.listdir(directory))


def same_predictions(a, b, X):
    np.testing.assert_array_equal(a.network_.get_flat(), b.network_.get_flat())
    np.testing.assert_array_equal(a.predict(X), b.predict(X))


# ----------------------------------------------------------------------------- atomic saving
@pytest.mark.parametrize("failure", ["oserror_mid_write", "keyboard_interrupt_mid_write", "replace_fails"])
def test_a_crash_mid_save_leaves_the_old_file_and_no_temporary(models, tmp_path, monkeypatch, failure):
    X, small, large, _ = models
    target = tmp_path / "model.npz"
    small.save(target)
    old_bytes = target.read_bytes()
    real_savez = np.savez

    def partial_savez(file, **arrays):
        buffer = io.BytesIO()
        real_savez(buffer, **arrays)
        data = buffer.getvalue()
        file.write(data[: len(data) // 2])  # half the archive reaches the disk, then the "crash"
        raise (OSError(28, "No space left on device") if failure == "oserror_mid_write" else KeyboardInterrupt())

    if failure == "replace_fails":
        def failing_replace(src, dst):
            raise OSError(5, "Input/output error")
        monkeypatch.setattr(os, "replace", failing_replace)
    else:
        monkeypatch.setattr(np, "savez", partial_savez)
    with pytest.raises((OSError, KeyboardInterrupt)):
        large.save(target)
    monkeypatch.undo()
    assert target.read_bytes() == old_bytes
    assert files_in(tmp_path) == ["model.npz"], "a temporary file was left behind"
    same_predictions(fastmlp.load(target), small, X)


SIGKILL_CHILD = textwrap.dedent(r'''
    import sys, numpy as np, fastmlp
    from fastmlp.estimators import _persistence

    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (40, 50))
    model = fastmlp.MLPClassifier((400,), max_epochs=1, random_state=0).fit(X, np.arange(40) % 3)
    real_write = _persistence._write_atomically

    def slow_write(path, write):
        def writer(f):
            class Stalling:  # passes the first chunk through, then reports and hangs: killed mid-write
                def __init__(self):
                    self.count = 0
                def write(self, data):
                    self.count += 1
                    n = f.write(data)
                    if self.count == 3:
                        f.flush()
                        print("writing", flush=True)
                        import time
                        time.sleep(60)
                    return n
                def __getattr__(self, name):
                    return getattr(f, name)
            write(Stalling())
        return real_write(path, writer)

    _persistence._write_atomically = slow_write
    model.save(sys.argv[1])
''')


def test_sigkill_mid_save_leaves_the_old_file_intact(models, tmp_path):
    X, small, _, _ = models
    target = tmp_path / "model.npz"
    small.save(target)
    old_bytes = target.read_bytes()
    with subprocess.Popen([sys.executable, "-c", SIGKILL_CHILD, str(target)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        try:
            line = proc.stdout.readline()
            if line.strip() == "writing":
                os.kill(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert line.strip() == "writing", line + err[-3000:]
    assert proc.returncode == -signal.SIGKILL
    assert target.read_bytes() == old_bytes
    same_predictions(fastmlp.load(target), small, X)
    # Nothing can clean up at SIGKILL: the partial archive stays as a hidden temporary beside the target,
    # never under the target's name, and does not get in the way of the next save. A later save to the same
    # path removes it once it is an hour old (younger, it could be another process's save in progress).
    leftovers = [name for name in files_in(tmp_path) if name != "model.npz"]
    assert all(name.startswith(".model.npz.") and name.endswith(".tmp") for name in leftovers), leftovers
    small.save(target)
    same_predictions(fastmlp.load(target), small, X)
    assert [name for name in files_in(tmp_path) if name != "model.npz"] == leftovers  # too young to remove
    for name in leftovers:
        two_hours_ago = os.stat(tmp_path / name).st_mtime - 7200
        os.utime(tmp_path / name, (two_hours_ago, two_hours_ago))
    unrelated = tmp_path / ".other.npz.0123456789ab.tmp"  # another target's temporary: left alone
    unrelated.write_bytes(b"x")
    os.utime(unrelated, (0, 0))
    small.save(target)
    assert files_in(tmp_path) == [".other.npz.0123456789ab.tmp", "model.npz"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (root only); skips when mounting is not permitted."""
    mount_point = tmp_path / "tiny disk"
    mount_point.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a tmpfs: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True, timeout=30)


def test_a_full_disk_leaves_the_old_file_and_no_temporary(models, tiny_disk):
    X, small, large, _ = models
    target = tiny_disk / "model.npz"
    small.save(target)
    old_bytes = target.read_bytes()
    assert len(old_bytes) < 16 * 1024 and large.network_.n_parameters * 4 > 64 * 1024
    with pytest.raises(OSError) as info:
        large.save(target)
    assert info.value.errno == 28, info.value  # ENOSPC
    assert target.read_bytes() == old_bytes
    assert files_in(tiny_disk) == ["model.npz"], "a temporary file was left behind"
    same_predictions(fastmlp.load(target), small, X)
    # the same on an empty disk: no file at all afterwards
    target.unlink()
    with pytest.raises(OSError):
        large.save(tiny_disk / "other.npz")
    assert files_in(tiny_disk) == []


def test_saving_into_a_missing_directory_or_onto_a_directory_fails_cleanly(models, tmp_path):
    """The errors name the path asked for (never a hidden temporary file) and say what is wrong with it."""
    _, small, _, _ = models
    missing = tmp_path / "no such dir" / "model.npz"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        small.save(missing)
    assert str(missing) in str(info.value) and ".tmp" not in str(info.value)
    (tmp_path / "taken").mkdir()
    for target in (tmp_path / "taken", str(tmp_path / "taken") + os.sep):
        with pytest.raises(IsADirectoryError, match="is a directory; give a file name") as info:
            small.save(target)
        assert ".tmp" not in str(info.value)
    assert files_in(tmp_path) == ["taken"] and files_in(tmp_path / "taken") == []


# ----------------------------------------------------------------------------- loading damaged files
def damaged_variants(good):
    """(name, bytes) of damaged copies of a good model file."""
    n = len(good)
    yield "empty", b""
    for cut in (1, 10, 30, n // 4, n // 2, n - 100, n - 22, n - 1):
        yield f"truncated_to_{cut}", good[:cut]
    rng = np.random.default_rng(0)
    for position in (40, n // 3, n // 2, n - 200, n - 60):
        damaged = bytearray(good)
        damaged[position] ^= 0xFF
        yield f"flipped_byte_{position}", bytes(damaged)
    yield "garbage_block", good[: n // 2] + bytes(rng.integers(0, 256, 64, dtype=np.uint8)) + good[n // 2 + 64:]
    yield "random_bytes", bytes(rng.integers(0, 256, n, dtype=np.uint8))
    yield "text", b"this is not a model\n" * 20


def test_damaged_model_files_raise_value_error(models, tmp_path):
    X, small, large, ae = models
    for model in (small, ae):
        path = tmp_path / "good.npz"
        model.save(path)
        good = path.read_bytes()
        for name, content in damaged_variants(good):
            bad = tmp_path / f"{name}.npz"
            bad.write_bytes(content)
            try:
                loaded = fastmlp.load(bad)
            except ValueError as exc:
                assert str(bad) in str(exc) or bad.name in str(exc), (name, str(exc))
                continue
            # a flipped byte may land in zip padding that nothing checks: then the model must be unchanged
            np.testing.assert_array_equal(loaded.network_.get_flat(), model.network_.get_flat()), name


def foreign_files(tmp_path):
    yield "plain_savez", lambda p: np.savez(p, a=np.arange(3), params=np.ones(5))
    yield "savez_compressed", lambda p: np.savez_compressed(p, header=np.frombuffer(b"{}", np.uint8))
    yield "npy", lambda p: np.save(p, np.arange(10))
    yield "pickled_object_array", lambda p: np.savez(p, header=np.array([{"format": "fastmlp-estimator"}],
                                                                         dtype=object))

    def text_zip(p):
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("readme.txt", "not an array")
            z.writestr("params.npy", "nor this")
    yield "zip_of_text", text_zip

    def not_json(p):
        np.savez(p, header=np.frombuffer(b"\xff\xfe not json", np.uint8), params=np.ones(3, np.float32))
    yield "header_not_json", not_json

    def json_list(p):
        np.savez(p, header=np.frombuffer(b"[1, 2, 3]", np.uint8))
    yield "header_json_list", json_list


def test_foreign_files_raise_value_error(tmp_path):
    for name, write in foreign_files(tmp_path):
        path = tmp_path / f"{name}.bin"
        with open(path, "wb") as f:
            write(f)
        with pytest.raises(ValueError):
            fastmlp.load(path)
    with pytest.raises(FileNotFoundError):
        fastmlp.load(tmp_path / "missing.npz")


def rewrite(path, out, change_header=None, change_arrays=None):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays.pop("header").tobytes())
    if change_header:
        change_header(header)
    if change_arrays:
        change_arrays(arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(out, **arrays)


HOSTILE_HEADERS = {
    "format_version_too_new": lambda h: h.update(format_version=99),
    "format_version_string": lambda h: h.update(format_version="1"),
    "unknown_class": lambda h: h.update({"class": "os.system"}),
    "unknown_hyperparameter": lambda h: h["params"].update(evil=1),
    "layer_sizes_zero": lambda h: h["network"]["config"].update(layer_sizes=[0, 3]),
    "layer_sizes_negative": lambda h: h["network"]["config"].update(layer_sizes=[-6, 3]),
    "layer_sizes_not_ints": lambda h: h["network"]["config"].update(layer_sizes=["6", 3]),
    "layer_sizes_mismatch": lambda h: h["network"]["config"].update(layer_sizes=[6, 4]),
    "unknown_activation": lambda h: h["network"]["config"].update(hidden_activation="evil"),
    "bad_dtype": lambda h: h["network"]["config"].update(dtype="float16"),
    "negative_shuffle_state": lambda h: h["network"].update(shuffle_state=-1),
    "huge_shuffle_state": lambda h: h["network"].update(shuffle_state=2**70),
    "missing_network": lambda h: h.pop("network"),
    "missing_fitted": lambda h: h.pop("fitted"),
    "network_not_dict": lambda h: h.update(network=[1, 2]),
}
HOSTILE_ARRAYS = {
    "params_too_short": lambda a: a.update(params=a["params"][:-1]),
    "params_wrong_dtype": lambda a: a.update(params=a["params"].astype(np.float64)),
    "params_2d": lambda a: a.update(params=a["params"][None, :]),
    "params_missing": lambda a: a.pop("params"),
    "classes_missing": lambda a: a.pop("classes"),
}


@pytest.mark.parametrize("change", sorted(HOSTILE_HEADERS) + sorted(HOSTILE_ARRAYS))
def test_inconsistent_or_hostile_content_raises_value_error(models, tmp_path, change):
    _, small, _, _ = models
    good = tmp_path / "good.npz"
    small.save(good)
    bad = tmp_path / "bad.npz"
    if change in HOSTILE_HEADERS:
        rewrite(good, bad, change_header=HOSTILE_HEADERS[change])
    else:
        rewrite(good, bad, change_arrays=HOSTILE_ARRAYS[change])
    with pytest.raises(ValueError):
        fastmlp.load(bad)


HUGE_HEADER_CHILD = textwrap.dedent(r'''
    import json, resource, sys
    import numpy as np
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # an allocation attempt fails instead of OOM
    import fastmlp
    path = sys.argv[1]
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(arrays.pop("header").tobytes())
    header["network"]["config"]["layer_sizes"] = [1_000_000, 1_000_000]  # 10^12 parameters declared, 21 stored
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)
    try:
        fastmlp.load(path)
    except BaseException as exc:  # noqa: BLE001
        print(type(exc).__name__, exc)
    else:
        print("loaded")
''')


@pytest.mark.skipif(bool(os.environ.get("FASTMLP_SANITIZER_RUN")), reason="RLIMIT_AS does not work under ASan")
def test_a_header_declaring_huge_layers_is_a_value_error_without_allocating(models, tmp_path):
    """load() once built the Network from the header's layer_sizes before checking them against the stored
    parameters: a hostile header made it allocate terabytes (MemoryError, or an OOM kill)."""
    _, small, _, _ = models
    path = tmp_path / "huge.npz"
    small.save(path)
    proc = subprocess.run([sys.executable, "-c", HUGE_HEADER_CHILD, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ValueError"), proc.stdout


# ----------------------------------------------------------------------------- paths
@pytest.mark.parametrize("name", ["with spaces/model file.npz", "ünïcödé/模型 ✓.npz", "no extension",
                                  "dots.in.name.v1.npz", " leading and trailing .npz"])
def test_paths_with_spaces_and_unicode_round_trip(models, tmp_path, name):
    X, small, _, ae = models
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    for model in (small, ae):
        for as_type in (str, os.fspath, lambda p: p):
            model.save(as_type(path))
            assert path.exists() and files_in(path.parent).count(path.name) == 1
            assert [n for n in files_in(path.parent) if n.endswith(".tmp")] == []
            loaded = fastmlp.load(as_type(path))
            np.testing.assert_array_equal(loaded.network_.get_flat(), model.network_.get_flat())
    np.testing.assert_array_equal(fastmlp.load(path).transform(X), ae.transform(X))


def test_a_zip_with_a_text_header_member_raises_value_error(tmp_path):
    """np.load returns raw bytes for a member that is not a .npy array: once an AttributeError out of load()."""
    path = tmp_path / "text.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("header.npy", "not an array")
        z.writestr("params.npy", "nor this")
    with pytest.raises(ValueError):
        fastmlp.load(path)


def test_a_model_file_with_nan_parameters_raises_value_error(models, tmp_path):
    """A CRC-valid file with NaN parameters once loaded silently (predict_proba then gave NaN)."""
    _, small, _, _ = models
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    small.save(good)
    rewrite(good, bad, change_arrays=lambda a: a.update(params=np.full_like(a["params"], np.nan)))
    with pytest.raises(ValueError):
        fastmlp.load(bad)


def test_random_bytes_are_not_a_model_and_nothing_suggests_unpickling(tmp_path):
    path = tmp_path / "random.npz"
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
    with pytest.raises(ValueError, match="not an .npz archive") as info:
        fastmlp.load(path)
    assert "pickle" not in str(info.value)
