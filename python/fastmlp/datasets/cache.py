"""The user cache directory, and the array cache that makes repeated loads of IDX files fast.

Decompressing and parsing the 60,000 MNIST training images takes about half a second; loading the
same array from an uncompressed ``.npz`` takes a fraction of that. Because the ``.npz`` is stored
uncompressed, its data member can also be memory-mapped, so :func:`read_idx_rows_cached` reads only
the rows asked for (each MPI rank's shard) from disk. The array cache lives in the user
cache directory, never beside the IDX files: data directories may be shared or read-only (and a
process running as root could write into them regardless of their permissions).
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .idx import IDX_TYPE_CODES, read_idx

__all__ = ["user_cache_dir", "read_idx_cached", "read_idx_rows_cached", "array_cache_path"]

#: Bump when the layout of a cache file changes, so that old caches are rebuilt, not misread.
CACHE_FORMAT_VERSION = 1

_NATIVE_IDX_DTYPES = frozenset(dtype.newbyteorder("=") for dtype in IDX_TYPE_CODES.values())


def user_cache_dir() -> Path:
    """fastmlp's per-user cache: ``$XDG_CACHE_HOME/fastmlp``, else ``~/.cache/fastmlp``.

    A relative ``XDG_CACHE_HOME`` is ignored, as the XDG Base Directory specification requires.
    The directory is not created here.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "fastmlp"
    return Path.home() / ".cache" / "fastmlp"


def array_cache_path(source: str | os.PathLike) -> Path:
    """Where the array cache of the IDX file ``source`` is kept.

    The name carries a hash of the source's absolute path, so equally named files in different
    directories (MNIST and Fashion-MNIST) get separate caches.
    """
    source = Path(os.path.abspath(source))
    key = hashlib.sha256(os.fsencode(source)).hexdigest()[:16]
    return user_cache_dir() / "arrays" / f"{source.name}-{key}.npz"


def read_idx_cached(path: str | os.PathLike, *, expected_shape: tuple[int, ...] | None = None,
                    expected_dtype: np.dtype | None = None) -> np.ndarray:
    """:func:`~fastmlp.datasets.read_idx` through the array cache.

    A cache entry is used only if it was written from a file of the same path, size, modification
    time and inode, by this cache format version, and holds an array of a dtype IDX can store (and of
    ``expected_shape`` / ``expected_dtype`` when given). Anything else — stale, damaged, truncated, or
    unreadable — is ignored and rebuilt from the IDX file. The cache is written atomically (temporary
    file, then :func:`os.replace`); if it cannot be written at all, the array is returned uncached.
    """
    path = Path(path)
    fingerprint = _fingerprint(path)
    cache_file = array_cache_path(path)
    cached = _read_cache(cache_file, fingerprint, expected_shape, expected_dtype)
    if cached is not None:
        return cached
    array = read_idx(path)
    _write_cache(cache_file, fingerprint, array)
    return array


def read_idx_rows_cached(path: str | os.PathLike, rows, *, expected_shape: tuple[int, ...] | None = None,
                         expected_dtype: np.dtype | None = None) -> np.ndarray:
    """``read_idx_cached(path, ...)[rows]``, reading only those rows from disk when the cache is valid.

    ``rows`` indexes the first axis (an integer array or a slice). With a valid cache entry its data
    member is memory-mapped and only the pages holding ``rows`` are read, so N processes that each
    load a 1/N shard read the data once between them, not N times. The entry's fingerprint, header,
    shape and dtype are checked as by :func:`read_idx_cached`, but not its CRC, which would mean
    reading every row (the cache is only ever replaced whole, atomically). Without a valid entry the
    whole file is read, the cache (re)built, and the rows returned. Returns a new array.

    Raises:
        ValueError: the file's array is not of ``expected_shape`` / ``expected_dtype`` (rows of the wrong
            file are never returned), besides what :func:`~fastmlp.datasets.read_idx` raises.
    """
    path = Path(path)
    fingerprint = _fingerprint(path)
    cache_file = array_cache_path(path)
    mapped = _map_cache(cache_file, fingerprint, expected_shape, expected_dtype)
    if mapped is None:
        array = read_idx(path)
        _write_cache(cache_file, fingerprint, array)
        _check_expected(path, array, expected_shape, expected_dtype)  # before indexing: a wrong file is named
        return np.array(array[rows])
    try:
        return np.array(np.asarray(mapped)[rows])  # copies just these rows out of the mapping
    finally:
        del mapped  # unmaps the file


def _map_cache(cache_file: Path, fingerprint: np.ndarray, expected_shape, expected_dtype):
    """The cache entry's data member as a read-only ``np.memmap`` (or an empty array), or None if the
    entry is missing, stale, damaged or not of the expected shape and dtype."""
    layout = _cache_layout(cache_file, fingerprint, expected_shape, expected_dtype)
    if layout is None:
        return None
    shape, dtype, data_start = layout
    if math.prod(shape) == 0:
        return np.empty(shape, dtype)  # np.memmap cannot map zero bytes
    try:
        return np.memmap(cache_file, dtype=dtype, mode="r", offset=data_start, shape=shape)
    except (OSError, ValueError):
        return None


def _cache_layout(cache_file: Path, fingerprint: np.ndarray, expected_shape, expected_dtype):
    """``(shape, dtype, data offset)`` of the cache entry's data member, read from its headers alone, or None
    if the entry is missing, stale, damaged (its declared size disagrees with the member's stored size) or
    not of the expected shape and dtype."""
    try:
        with open(cache_file, "rb") as stream:
            with zipfile.ZipFile(stream) as archive:
                with archive.open("fingerprint.npy") as member:
                    if not np.array_equal(np.lib.format.read_array(member, allow_pickle=False), fingerprint):
                        return None
                info = archive.getinfo("data.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                return None
            # the member's bytes start after its local file header: 30 bytes + file name + extra field
            stream.seek(info.header_offset)
            local_header = stream.read(30)
            if len(local_header) != 30 or local_header[:4] != b"PK\x03\x04":
                return None
            name_length, extra_length = struct.unpack("<HH", local_header[26:30])
            member_start = info.header_offset + 30 + name_length + extra_length
            stream.seek(member_start)
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                return None
            shape, fortran_order, dtype = read_header(stream)
            data_start = stream.tell()
    except (OSError, ValueError, KeyError, EOFError, struct.error, zipfile.BadZipFile):
        return None
    n_bytes = math.prod(shape) * dtype.itemsize  # Python ints: an absurd declared shape cannot wrap around
    if (fortran_order or dtype not in _NATIVE_IDX_DTYPES or len(shape) == 0
            or data_start + n_bytes != member_start + info.file_size
            or (expected_shape is not None and tuple(shape) != tuple(expected_shape))
            or (expected_dtype is not None and dtype != np.dtype(expected_dtype))):
        return None
    return tuple(shape), dtype, data_start


def _fingerprint(path: Path) -> np.ndarray:
    status = os.stat(path)
    return np.array([CACHE_FORMAT_VERSION, status.st_size, status.st_mtime_ns, status.st_ino],
                    dtype=np.int64)


def _read_cache(cache_file: Path, fingerprint: np.ndarray, expected_shape, expected_dtype):
    # The header is checked first, without reading the data: a damaged entry declaring a huge shape must
    # be rebuilt, not allocated (a MemoryError). _cache_layout checks it against the member's stored size.
    if _cache_layout(cache_file, fingerprint, expected_shape, expected_dtype) is None:
        return None
    try:
        # Opened here, not by np.load, which leaks its file handle when the zip is damaged.
        with open(cache_file, "rb") as stream, np.load(stream, allow_pickle=False) as entry:
            if not np.array_equal(entry["fingerprint"], fingerprint):
                return None
            # Reading the whole member makes zipfile verify its CRC, so a damaged cache fails here.
            array = entry["data"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if array.dtype not in _NATIVE_IDX_DTYPES or array.ndim == 0:
        return None
    if expected_shape is not None and array.shape != tuple(expected_shape):
        return None
    if expected_dtype is not None and array.dtype != np.dtype(expected_dtype):
        return None
    return array


def _check_expected(path: Path, array: np.ndarray, expected_shape, expected_dtype) -> None:
    if ((expected_shape is not None and array.shape != tuple(expected_shape))
            or (expected_dtype is not None and array.dtype != np.dtype(expected_dtype))):
        raise ValueError(f"{path}: expected an array of shape {tuple(expected_shape or array.shape)} "
                         f"{np.dtype(expected_dtype or array.dtype)}, found shape {array.shape} {array.dtype}")


def _write_cache(cache_file: Path, fingerprint: np.ndarray, array: np.ndarray) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=cache_file.parent, prefix=f".{cache_file.name}.",
                                                 suffix=".tmp")
    except OSError:
        return  # no writable cache: loading still works, only slower next time
    replaced = False
    try:
        # No fsync: a cache torn by a crash fails validation and is rebuilt, so durability buys nothing.
        with os.fdopen(descriptor, "wb") as stream:
            np.savez(stream, fingerprint=fingerprint, data=array)
        os.replace(temporary, cache_file)
        replaced = True
    except OSError:
        pass  # e.g. disk full: go on without a cache
    finally:
        if not replaced:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
