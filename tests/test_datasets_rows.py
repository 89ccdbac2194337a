"""Reading only some rows of a split (``load_mnist(split, rows=...)``, ``cache.read_idx_rows_cached``): what
each MPI rank does to read just its shard. Rows must equal the same rows of a full load; with a valid array
cache the IDX file is not decoded and only the rows are copied; a stale or damaged cache is rebuilt."""
import gzip
import tracemalloc

import numpy as np
import pytest

from fastmlp import datasets
from fastmlp.datasets import cache

# isolated_env is an autouse fixture: importing it applies it to this module
from dataset_helpers import SHARED, idx_bytes, isolated_env, needs_mnist  # noqa: F401


def _source(tmp_path, values):
    source = tmp_path / "values-idx2-ubyte.gz"
    source.write_bytes(gzip.compress(idx_bytes(values, 0x08)))
    return source


@pytest.mark.parametrize("rows", [np.array([5, 0, 7, 7]), np.arange(0, 12, 3), slice(2, 9, 2), np.array([], int)])
def test_rows_equal_the_same_rows_of_a_full_read_with_and_without_cache(tmp_path, rows):
    values = (np.arange(12 * 5) % 251).astype(np.uint8).reshape(12, 5)
    source = _source(tmp_path, values)
    first = cache.read_idx_rows_cached(source, rows)  # builds the cache
    assert cache.array_cache_path(source).is_file()
    second = cache.read_idx_rows_cached(source, rows)  # through the memory map
    for got in (first, second):
        np.testing.assert_array_equal(got, values[rows])
        assert got.dtype == np.uint8 and got.flags.writeable and not isinstance(got, np.memmap)


def test_valid_cache_is_read_without_decoding_the_idx_file(tmp_path, monkeypatch):
    values = np.arange(40, dtype=np.uint8).reshape(8, 5)
    source = _source(tmp_path, values)
    cache.read_idx_cached(source)

    def idx_must_not_be_read(path):
        raise AssertionError(f"decoded {path} although a valid cache exists")
    monkeypatch.setattr(cache, "read_idx", idx_must_not_be_read)
    np.testing.assert_array_equal(cache.read_idx_rows_cached(source, [1, 6]), values[[1, 6]])


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong shape", "compressed"])
def test_damaged_or_foreign_cache_is_rebuilt_for_row_reads(tmp_path, damage):
    values = np.arange(200, dtype=np.uint8)
    source = tmp_path / "values-idx1-ubyte"
    source.write_bytes(idx_bytes(values, 0x08))
    cache.read_idx_cached(source)
    cache_file = cache.array_cache_path(source)
    if damage == "truncate":
        cache_file.write_bytes(cache_file.read_bytes()[:-150])
    elif damage == "garbage":
        cache_file.write_bytes(b"not a zip file at all")
    elif damage == "wrong shape":
        cache._write_cache(cache_file, cache._fingerprint(source), values.reshape(10, 20))
    else:  # a compressed member cannot be memory-mapped
        np.savez_compressed(cache_file, fingerprint=cache._fingerprint(source), data=values)
    np.testing.assert_array_equal(cache.read_idx_rows_cached(source, [3, 199], expected_shape=(200,)), [3, 199])
    np.testing.assert_array_equal(cache.read_idx_rows_cached(source, [4]), [4])  # the rebuilt cache maps


def test_rows_of_the_shipped_sample_splits():
    X, y = datasets.load_mnist("train", sample=True)
    for split, offset in [("train", 0), ("train55k", 0), ("validation", 5500), ("test", None)]:
        assert datasets.split_length(datasets.DatasetSource("mnist", "sample", "s"), split) == \
            {"train": 6000, "train55k": 5500, "validation": 500, "test": 1000}[split]
        if offset is None:
            continue
        Xr, yr = datasets.load_mnist(split, sample=True, rows=[0, 3, -1])
        last = {"train": 5999, "train55k": 5499, "validation": 499}[split]
        np.testing.assert_array_equal(Xr, X[np.array([0, 3, last]) + offset])
        np.testing.assert_array_equal(yr, y[np.array([0, 3, last]) + offset])


@pytest.mark.parametrize("rows, error, words", [
    (np.array([0, 6000]), ValueError, "6,000 images"),
    (np.array([-6001]), ValueError, "indices into"),
    (np.array([[0, 1]]), TypeError, "1-D array of integer"),
    (np.array([0.5]), TypeError, "integer indices"),
])
def test_bad_rows_are_refused(rows, error, words):
    with pytest.raises(error, match=words):
        datasets.load_mnist("train", sample=True, rows=rows)


@needs_mnist
def test_a_shard_of_real_mnist_reads_only_its_rows():
    source = datasets.find_dataset("mnist", SHARED)
    X, y = datasets.load_mnist("train", source=source)  # builds the array cache
    rows = np.arange(3, 60000, 60)  # 1,000 images
    tracemalloc.start()
    try:
        Xr, yr = datasets.load_mnist("train", source=source, rows=rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(Xr, X[rows])
    np.testing.assert_array_equal(yr, y[rows])
    # the rows as uint8 and float32 (≈ 3.9 MB); the whole split would be 47 MB of uint8 alone
    assert peak < 8e6, f"{peak / 1e6:.1f} MB allocated to read 1,000 rows"
    Xv, _ = datasets.load_mnist("validation", source=source, rows=slice(0, 10))
    np.testing.assert_array_equal(Xv, X[55000:55010])
