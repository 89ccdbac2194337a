"""Files that lie: IDX files and cache entries whose headers declare more than they hold, decompression bombs,
a file of the wrong shape read by rows, and one data set's files given for the other. Each must end in a
ValueError naming the file, with memory bounded by what the file really holds, never a MemoryError, an
IndexError or the wrong data returned. Reading as a stream also means a pipe can be read."""
import gzip
import io
import os
import sys
import threading
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from fastmlp import datasets
from fastmlp.datasets import cache

# isolated_env is an autouse fixture: importing it applies it to this module
from dataset_helpers import SHARED, idx_bytes, isolated_env, needs_fashion, needs_mnist  # noqa: F401

HUGE = 0xFFFFFFFF  # the largest IDX dimension: 4 GiB of uint8 declared


def _peak_bytes(function, *args, **kwargs):
    """``function(*args, **kwargs)``'s exception and the peak of memory allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as raised:
            function(*args, **kwargs)
        return raised.value, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_decompression_bomb_is_refused_without_inflating_it(tmp_path):
    # 10 bytes declared, then 1 GiB of zeros that gzip packs into about 1 MB
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    content = packer.compress(idx_bytes(np.arange(10, dtype=np.uint8), 0x08))
    content += b"".join(packer.compress(bytes(1 << 24)) for _ in range(64)) + packer.flush()
    path = tmp_path / "bomb-idx1-ubyte.gz"
    path.write_bytes(content)
    error, peak = _peak_bytes(datasets.read_idx, path)
    assert str(path) in str(error) and "unexpected trailing bytes" in str(error) and "more than 10" in str(error)
    assert peak < 8 << 20, f"{peak / 2**20:.0f} MiB allocated to refuse a 10-byte file"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the pipe as /dev/fd/N")
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_reads_a_pipe(compress):
    values = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    content = idx_bytes(values, 0x0C)
    reader, writer = os.pipe()

    def write():
        with os.fdopen(writer, "wb") as stream:
            stream.write(gzip.compress(content) if compress else content)

    feeder = threading.Thread(target=write)
    feeder.start()
    try:
        np.testing.assert_array_equal(datasets.read_idx(f"/dev/fd/{reader}"), values)
    finally:
        feeder.join()
        os.close(reader)


@pytest.mark.parametrize("compress", [False, True])
def test_a_header_declaring_more_than_the_file_holds_is_refused_without_allocating_it(tmp_path, compress):
    content = b"\x00\x00\x08\x01" + HUGE.to_bytes(4, "big") + bytes(100)
    path = tmp_path / "liar-idx1-ubyte"
    path.write_bytes(gzip.compress(content) if compress else content)
    error, peak = _peak_bytes(datasets.read_idx, path)
    assert "truncated data" in str(error) and f"{HUGE} data bytes, but 100 follow" in str(error)
    assert peak < 8 << 20


def test_a_cache_entry_declaring_a_huge_shape_is_rebuilt_not_allocated(tmp_path):
    source = tmp_path / "values-idx1-ubyte"
    values = np.arange(50, dtype=np.uint8)
    source.write_bytes(idx_bytes(values, 0x08))
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "|u1", "fortran_order": False, "shape": (1 << 40,)})
    fingerprint = io.BytesIO()
    np.save(fingerprint, cache._fingerprint(source))
    cache_file = cache.array_cache_path(source)
    cache_file.parent.mkdir(parents=True)
    with zipfile.ZipFile(cache_file, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("fingerprint.npy", fingerprint.getvalue())
        archive.writestr("data.npy", member.getvalue() + values.tobytes())
    np.testing.assert_array_equal(cache.read_idx_cached(source), values)  # no expected shape to reject it by
    with np.load(cache_file) as rebuilt:
        np.testing.assert_array_equal(rebuilt["data"], values)


@pytest.mark.parametrize("cached", [False, True])
def test_rows_of_a_file_of_the_wrong_shape_are_refused_naming_it(tmp_path, cached):
    source = tmp_path / "values-idx1-ubyte"
    source.write_bytes(idx_bytes(np.arange(300) % 256, 0x08))  # 300 values where 200 are expected
    if cached:
        cache.read_idx_cached(source)
    with pytest.raises(ValueError, match=r"values-idx1-ubyte: expected an array of shape \(200,\) uint8, "
                                         r"found shape \(300,\) uint8"):
        cache.read_idx_rows_cached(source, [0, 250], expected_shape=(200,), expected_dtype=np.uint8)
    source.write_bytes(idx_bytes(np.arange(100), 0x08))  # too few: the same error, not an IndexError
    with pytest.raises(ValueError, match=r"found shape \(100,\)"):
        cache.read_idx_rows_cached(source, [150], expected_shape=(200,))


@needs_mnist
@pytest.mark.parametrize("rows", [None, np.arange(10)])
def test_mnist_files_given_for_fashion_mnist_are_refused(monkeypatch, rows):
    # files directly in a FASTMLP_DATA directory are taken for whichever data set is asked for
    monkeypatch.setenv("FASTMLP_DATA", str(SHARED / "mnist"))
    with pytest.raises(ValueError, match="holds the MNIST test labels, not Fashion-MNIST's.*own 'fashion-mnist/'"):
        datasets.load_fashion_mnist("test", download=False, rows=rows)
    X, y = datasets.load_mnist("test", download=False, rows=rows)  # what they are is loaded as before
    assert len(y) == (10000 if rows is None else 10)


@needs_fashion
def test_fashion_mnist_files_given_for_mnist_are_refused():
    with pytest.raises(ValueError, match="holds the Fashion-MNIST train labels, not MNIST's"):
        datasets.load_mnist_splits(data_dir=SHARED / "fashion-mnist", download=False)
