"""Tests of fastmlp.datasets: IDX reading, locating, caching, the shipped sample (the generators: test_generators.py).

Real data comes from ../shared/data beside the checkout (or $FASTMLP_TEST_DATA); tests that need it skip
when it is absent. Every test runs with HOME and XDG_CACHE_HOME in tmp_path and FASTMLP_DATA unset, so the
real user cache is never touched (see dataset_helpers.isolated_env)."""
import gzip
import os
import re
import shutil

import numpy as np
import pytest

from fastmlp import datasets
from fastmlp.datasets import cache, catalog

# isolated_env is an autouse fixture: importing it applies it to this module
from dataset_helpers import (  # noqa: F401
    REPO, SHARED, HAVE_MNIST, HAVE_FASHION, needs_mnist, needs_fashion, MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS, TYPE_CODES, isolated_env, idx_bytes, write_dataset_dir, load_script)


# ------------------------------------------------------------------------------------------- read_idx
@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("type_code", sorted(TYPE_CODES))
def test_read_idx_round_trips_every_element_type(tmp_path, type_code, compress):
    values = np.arange(-12, 12).reshape(2, 3, 4) * (0.5 if type_code in (0x0D, 0x0E) else 1)
    if type_code == 0x08:
        values = values + 12
    content = idx_bytes(values, type_code)
    path = tmp_path / "array.idx"
    path.write_bytes(gzip.compress(content) if compress else content)
    array = datasets.read_idx(path)
    assert array.dtype == np.dtype(TYPE_CODES[type_code]).newbyteorder("=") and array.dtype.isnative
    assert array.shape == (2, 3, 4) and array.flags.writeable
    np.testing.assert_array_equal(array, values)


def test_read_idx_recognises_gzip_by_content_not_name(tmp_path):
    values = np.arange(6, dtype=np.uint8)
    (tmp_path / "raw.gz").write_bytes(idx_bytes(values, 0x08))
    (tmp_path / "packed").write_bytes(gzip.compress(idx_bytes(values, 0x08)))
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "raw.gz"), values)
    np.testing.assert_array_equal(datasets.read_idx(str(tmp_path / "packed")), values)


def test_read_idx_reads_paths_with_spaces_and_non_ascii(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    (tmp_path / "images idx3 ✓.ubyte").write_bytes(idx_bytes(images, 0x08))
    (tmp_path / "images ✓.ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, 0x08)))
    np.testing.assert_array_equal(datasets.read_idx(tmp_path / "images idx3 ✓.ubyte"), images)
    np.testing.assert_array_equal(datasets.read_idx(str(tmp_path / "images ✓.ubyte.gz")), images)


GOOD = idx_bytes(np.arange(12, dtype=np.int32).reshape(3, 4), 0x0C)
GOOD_GZ = gzip.compress(GOOD)


def flipped(content, at):
    content = bytearray(content)
    content[at] ^= 0xFF
    return bytes(content)


@pytest.mark.parametrize("content, problem", [
    (b"", "empty"),
    (GOOD[:1], "too short"),
    (b"\x00\x00", "too short"),
    (b"\x08\x03" + GOOD[2:], "bad magic"),
    (bytes(np.random.default_rng(1).integers(0, 256, len(GOOD), dtype=np.uint8)), "bad magic"),
    (GOOD[:2] + b"\x0a" + GOOD[3:], "unknown IDX element type code 0x0A"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (GOOD[:4], "truncated header"),
    (GOOD[:9], "truncated header"),
    (GOOD[:3] + b"\xff" + GOOD[4:], "truncated header"),  # 255 dimensions declared
    (GOOD[:-1], "truncated data"),
    (GOOD[: len(GOOD) // 2], "truncated data"),
    (GOOD[:4] + b"\xff\xff\xff\xff" * 2 + GOOD[12:], "truncated data"),  # 2^64 elements: never allocated
    (GOOD + b"\x00", "trailing bytes"),
    (GOOD_GZ[:-12], "truncated gzip"),
    (GOOD_GZ[:10], "corrupt or truncated gzip"),
    (GOOD_GZ[:10] + b"garbage!" * 4, "corrupt or truncated gzip"),
    (flipped(GOOD_GZ, -6), "corrupt or truncated gzip"),  # inside the CRC-32 / length trailer
    # a flipped byte mid-stream: zlib may reject the stream or decode other bytes than were packed
    (flipped(GOOD_GZ, len(GOOD_GZ) // 2), "corrupt or truncated gzip|trailing bytes|truncated data"),
    (gzip.compress(GOOD[:-3]), "truncated data"),
    (gzip.compress(b""), "empty"),
])
def test_read_idx_rejects_invalid_files_naming_file_and_problem(tmp_path, content, problem):
    path = tmp_path / "broken idx1 ü-ubyte"
    path.write_bytes(content)
    with pytest.raises(ValueError) as raised:
        datasets.read_idx(path)
    assert str(path) in str(raised.value)
    assert re.search(problem, str(raised.value))


# ------------------------------------------------------------------------------------------ array cache
def test_array_cache_is_written_to_user_cache_and_then_used(tmp_path, isolated_env, monkeypatch):
    source = tmp_path / "data" / "values-idx2-ubyte.gz"
    source.parent.mkdir()
    source.write_bytes(gzip.compress(idx_bytes(np.arange(20, dtype=np.uint8).reshape(4, 5), 0x08)))
    first = cache.read_idx_cached(source)
    cache_file = cache.array_cache_path(source)
    assert cache_file.is_file() and cache_file.is_relative_to(isolated_env / "arrays")
    assert sorted(p.name for p in source.parent.iterdir()) == [source.name]  # nothing beside the data
    assert [p.name for p in cache_file.parent.iterdir()] == [cache_file.name]  # no temporary left

    def idx_must_not_be_read(path):
        raise AssertionError(f"read {path} although a valid cache exists")
    monkeypatch.setattr(cache, "read_idx", idx_must_not_be_read)
    np.testing.assert_array_equal(cache.read_idx_cached(source), first)


def test_stale_array_cache_is_rebuilt(tmp_path):
    source = tmp_path / "values-idx1-ubyte"
    source.write_bytes(idx_bytes(np.arange(8, dtype=np.uint8), 0x08))
    cache.read_idx_cached(source)
    original_mtime = source.stat().st_mtime_ns
    # New content of the same size and mtime, as `cp -p` would leave it: only the inode changes.
    replacement = tmp_path / "replacement"
    replacement.write_bytes(idx_bytes(np.arange(8, 16, dtype=np.uint8), 0x08))
    os.utime(replacement, ns=(original_mtime, original_mtime))
    os.replace(replacement, source)
    np.testing.assert_array_equal(cache.read_idx_cached(source), np.arange(8, 16))
    source.write_bytes(idx_bytes(np.arange(5, dtype=np.uint8), 0x08))  # different size
    np.testing.assert_array_equal(cache.read_idx_cached(source), np.arange(5))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "wrong shape"])
def test_damaged_array_cache_is_ignored_and_rebuilt(tmp_path, damage):
    source = tmp_path / "values-idx1-ubyte"
    values = np.arange(200, dtype=np.uint8)
    source.write_bytes(idx_bytes(values, 0x08))
    cache.read_idx_cached(source)
    cache_file = cache.array_cache_path(source)
    content = bytearray(cache_file.read_bytes())
    if damage == "truncate":
        cache_file.write_bytes(content[: len(content) // 2])
    elif damage == "flip":
        data_at = content.index(bytes(range(100, 120)))
        content[data_at] ^= 0xFF  # a pixel, not the header: only the zip CRC can notice
        cache_file.write_bytes(content)
    elif damage == "garbage":
        cache_file.write_bytes(b"not a zip file at all")
    else:
        cache._write_cache(cache_file, cache._fingerprint(source), values.reshape(10, 20))
    np.testing.assert_array_equal(cache.read_idx_cached(source, expected_shape=(200,)), values)
    with np.load(cache_file) as rebuilt:
        np.testing.assert_array_equal(rebuilt["data"], values)


def test_unwritable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file where the cache directory should go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    source = tmp_path / "values-idx1-ubyte"
    source.write_bytes(idx_bytes(np.arange(3, dtype=np.uint8), 0x08))
    np.testing.assert_array_equal(cache.read_idx_cached(source), [0, 1, 2])
    assert not cache.array_cache_path(source).exists()


# ------------------------------------------------------------------------------ where data is looked for
def test_search_order_and_subfolders(tmp_path, monkeypatch, isolated_env):
    explicit, env_a, env_b = tmp_path / "explicit", tmp_path / "env-a", tmp_path / "env-b"
    monkeypatch.setenv("FASTMLP_DATA", os.pathsep.join([str(env_a), str(env_b)]))
    locations = datasets.data_search_paths("mnist", data_dir=explicit)
    assert [(loc.origin, loc.directory) for loc in locations] == [
        ("data_dir argument", explicit / "mnist"), ("data_dir argument", explicit),
        ("FASTMLP_DATA", env_a / "mnist"), ("FASTMLP_DATA", env_a),
        ("FASTMLP_DATA", env_b / "mnist"), ("FASTMLP_DATA", env_b),
        ("user cache", isolated_env / "mnist"), ("user cache", isolated_env)]
    assert datasets.find_dataset("mnist", explicit) is None
    write_dataset_dir(env_b)
    write_dataset_dir(env_a / "mnist")
    assert datasets.find_dataset("mnist", explicit).directory == env_a / "mnist"
    write_dataset_dir(explicit)
    found = datasets.find_dataset("mnist", explicit)
    assert (found.directory, found.origin, found.kind) == (explicit, "data_dir argument", "files")
    assert found.description == f"full MNIST from {explicit}"
    # Files directly in a directory count as whichever data set is asked for (documented ambiguity).
    assert datasets.find_dataset("fashion-mnist", tmp_path / "nowhere").directory == env_b


def test_incomplete_directory_is_reported_and_skipped(tmp_path):
    write_dataset_dir(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    location = datasets.data_search_paths("mnist", tmp_path / "d")[1]
    assert not location.complete and location.missing == ("t10k-labels-idx1-ubyte.gz",)
    assert "missing t10k-labels-idx1-ubyte.gz" in location.status()
    assert datasets.find_dataset("mnist", tmp_path / "d") is None


def test_missing_data_without_download_raises_one_clear_error(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("FASTMLP_DATA", str(tmp_path / "env"))
    with pytest.raises(datasets.DatasetNotFoundError) as raised:
        datasets.load_mnist("test", data_dir=tmp_path / "given", download=False)
    message = str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)
    for place in (tmp_path / "given", tmp_path / "env" / "mnist", isolated_env / "mnist"):
        assert str(place) in message
    assert "download=False" in message and "by hand" in message


def test_file_of_wrong_shape_is_rejected_naming_it(tmp_path):
    write_dataset_dir(tmp_path, images_shape=(10, 28, 28))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz: expected MNIST test images"):
        datasets.load_mnist("test", data_dir=tmp_path, download=False)


def test_labels_out_of_range_are_rejected(tmp_path):
    write_dataset_dir(tmp_path, labels=np.full(10000, 10, np.uint8))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: labels must be 0\.\.9"):
        datasets.load_mnist("test", data_dir=tmp_path, download=False)


@pytest.mark.parametrize("call, error, words", [
    (lambda: datasets.load_mnist("tran", sample=True), ValueError, ["'tran'", "'train55k'", "'validation'"]),
    (lambda: datasets.load_mnist(sample=True, dtype="float64"), ValueError, ["float64", "'uint8'"]),
    (lambda: datasets.load_mnist(sample=True, flatten="yes"), TypeError, ["flatten"]),
    (lambda: datasets.load_fashion_mnist(sample=True), ValueError, ["no shipped sample"]),
    (lambda: datasets.find_dataset("cifar"), ValueError, ["'cifar'", "'fashion-mnist'"]),
    (lambda: datasets.load_mnist_splits(split="train"), TypeError, ["split"]),
    (lambda: datasets.load_mnist(source=datasets.DatasetSource("fashion-mnist", "files", "x")), ValueError,
     ["'fashion-mnist'"]),
])
def test_bad_arguments_say_what_was_expected(call, error, words):
    with pytest.raises(error) as raised:
        call()
    for word in words:
        assert word in str(raised.value)


# ------------------------------------------------------------------------------------- the real data
@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The four arrays of each real data set as uint8 (n, 28, 28), loaded once into a module-wide cache."""
    if not HAVE_MNIST:
        pytest.skip(f"official MNIST files not in {SHARED / 'mnist'}")
    cache_home = tmp_path_factory.mktemp("xdg-cache")
    arrays = {"cache_home": cache_home}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache_home))
        patch.delenv("FASTMLP_DATA", raising=False)
        loaders = {"mnist": datasets.load_mnist}
        if HAVE_FASHION:
            loaders["fashion-mnist"] = datasets.load_fashion_mnist
        for name, load in loaders.items():
            for split in ("train", "test"):
                arrays[name, split] = load(split, data_dir=SHARED, download=False, dtype="uint8", flatten=False)
    return arrays


@needs_mnist
def test_mnist_default_arrays(official, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(official["cache_home"]))
    X, y = datasets.load_mnist("train", data_dir=SHARED, download=False)
    assert X.shape == (60000, 784) and X.dtype == np.float32 and y.shape == (60000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(X, official["mnist", "train"][0].reshape(60000, 784) / np.float32(255))
    assert np.bincount(y).tolist() == MNIST_TRAIN_COUNTS
    images, labels = official["mnist", "test"]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8 and images.max() == 255
    assert np.bincount(labels).tolist() == MNIST_TEST_COUNTS


@needs_mnist
def test_classic_split_is_55k_5k_10k_with_validation_last(official, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(official["cache_home"]))
    monkeypatch.setenv("FASTMLP_DATA", str(SHARED))  # has mnist/ and fashion-mnist/ subfolders
    splits = datasets.load_mnist_splits(download=False, dtype="uint8", flatten=False)
    assert {k: len(v[0]) for k, v in splits.items()} == {"train55k": 55000, "validation": 5000, "test": 10000}
    train_images, train_labels = official["mnist", "train"]
    np.testing.assert_array_equal(splits["validation"][0], train_images[55000:])
    np.testing.assert_array_equal(splits["train55k"][1], train_labels[:55000])
    X_val, y_val = datasets.load_mnist("validation", download=False)
    np.testing.assert_array_equal(y_val, splits["validation"][1])
    assert X_val.shape == (5000, 784)


@needs_mnist
def test_second_load_comes_from_the_array_cache(official, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(official["cache_home"]))
    source = datasets.find_dataset("mnist", SHARED)
    for path in source.files.values():
        assert cache.array_cache_path(path).is_file()

    def idx_must_not_be_read(path):
        raise AssertionError(f"read {path} although its array cache is valid")
    monkeypatch.setattr(cache, "read_idx", idx_must_not_be_read)
    images, labels = datasets.load_mnist("train", source=source, dtype="uint8", flatten=False)
    np.testing.assert_array_equal(images, official["mnist", "train"][0])
    np.testing.assert_array_equal(labels, official["mnist", "train"][1])


@needs_mnist
def test_loading_writes_nothing_into_the_data_directory(official):
    before = sorted(os.listdir(SHARED / "mnist"))
    datasets.load_mnist("test", data_dir=SHARED, download=False)
    assert sorted(os.listdir(SHARED / "mnist")) == before


@needs_mnist
def test_uncompressed_and_dotted_file_names_are_accepted(official, tmp_path):
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.copyfile(SHARED / "mnist" / name, tmp_path / name)
    for name in ("t10k-images.idx3-ubyte", "t10k-labels-idx1-ubyte"):
        gzipped = SHARED / "mnist" / (name.replace(".idx", "-idx") + ".gz")
        (tmp_path / name).write_bytes(gzip.decompress(gzipped.read_bytes()))
    images, labels = datasets.load_mnist("test", data_dir=tmp_path, download=False, dtype="uint8", flatten=False)
    np.testing.assert_array_equal(images, official["mnist", "test"][0])
    np.testing.assert_array_equal(labels, official["mnist", "test"][1])


@needs_fashion
def test_fashion_mnist_from_env_subfolder(official, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(official["cache_home"]))
    monkeypatch.setenv("FASTMLP_DATA", str(SHARED))
    source = datasets.locate_dataset("fashion-mnist", download=False)
    assert (source.directory, source.origin) == (SHARED / "fashion-mnist", "FASTMLP_DATA")
    X, y = datasets.load_fashion_mnist("test", download=False)
    assert X.shape == (10000, 784) and X.dtype == np.float32 and 0 <= X.min() and X.max() == 1.0
    assert np.bincount(y).tolist() == [1000] * 10
    assert np.bincount(official["fashion-mnist", "train"][1]).tolist() == [6000] * 10
    assert not np.array_equal(official["fashion-mnist", "test"][0], official["mnist", "test"][0])


# ---------------------------------------------------------------------------------- the shipped sample
def test_sample_splits_shapes_and_stratification():
    X, y = datasets.load_mnist("train", sample=True)
    assert X.shape == (6000, 784) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [600] * 10 and 0 <= X.min() and X.max() <= 1
    X_test, y_test = datasets.load_mnist("test", sample=True, dtype="uint8", flatten=False)
    assert X_test.shape == (1000, 28, 28) and np.bincount(y_test).tolist() == [100] * 10
    splits = datasets.load_mnist_splits(sample=True)
    assert {k: len(v[1]) for k, v in splits.items()} == {"train55k": 5500, "validation": 500, "test": 1000}
    np.testing.assert_array_equal(splits["validation"][1], y[-500:])


def test_sample_fallback_warns_only_when_allowed():
    with pytest.raises(datasets.DatasetNotFoundError):
        datasets.load_mnist("test", download=False)
    with pytest.warns(UserWarning, match=r"shipped MNIST sample \(6,000 training / 1,000 test") as caught:
        X, y = datasets.load_mnist("test", download=False, allow_sample=True)
    assert X.shape == (1000, 784)
    assert caught[0].filename == __file__  # the warning points at the caller
    with pytest.warns(UserWarning):
        source = datasets.locate_dataset("mnist", download=False, allow_sample=True)
    assert source.is_sample and source.description == "shipped MNIST sample (6,000/1,000 images)"
    with pytest.raises(datasets.DatasetNotFoundError, match="no shipped sample"):
        datasets.load_fashion_mnist("test", download=False, allow_sample=True)


def test_sample_selection_is_deterministic_and_stratified():
    script = load_script()
    labels = np.random.default_rng(0).integers(0, 10, size=3000)
    first = script.select_stratified(labels, 100, [1998, 0])
    np.testing.assert_array_equal(first, script.select_stratified(labels, 100, [1998, 0]))
    assert not np.array_equal(first, script.select_stratified(labels, 100, [1998, 1]))
    assert np.all(np.diff(first) > 0) and np.bincount(labels[first]).tolist() == [100] * 10
    with pytest.raises(ValueError, match="class"):
        script.select_stratified(labels, 1000, 0)
    assert script.OFFICIAL_MD5 == {f.filename: f.md5 for f in catalog.MNIST.files.values()}


def test_sample_file_writer_is_byte_reproducible(tmp_path):
    script = load_script()
    arrays = {"images": np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28), "seed": np.array(5)}
    script.write_npz(arrays, tmp_path / "a.npz")
    script.write_npz(arrays, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.npz", "b.npz"]  # no temporary files left
    with np.load(tmp_path / "b.npz") as written:
        np.testing.assert_array_equal(written["images"], arrays["images"])


@needs_mnist
def test_shipped_sample_is_rows_of_the_official_files_and_rebuilds_identically(official, tmp_path):
    script = load_script()
    with np.load(REPO / "python" / "fastmlp" / "data" / "mnist_sample.npz") as shipped:
        shipped = dict(shipped)
    for part in ("train", "test"):
        images, labels = official["mnist", part]
        np.testing.assert_array_equal(shipped[f"{part}_images"], images[shipped[f"{part}_indices"]])
        np.testing.assert_array_equal(shipped[f"{part}_labels"], labels[shipped[f"{part}_indices"]])
    rebuilt = script.build_sample(*official["mnist", "train"], *official["mnist", "test"], seed=int(shipped["seed"]))
    assert rebuilt.keys() == shipped.keys()
    for name in rebuilt:
        np.testing.assert_array_equal(rebuilt[name], shipped[name])
