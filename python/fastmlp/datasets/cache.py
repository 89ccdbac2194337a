"""The user cache directory, and the array cache that makes repeated loads of IDX files fast.

Decompressing and parsing the 60,000 MNIST training images takes about half a second; loading the
same array from an uncompressed ``.npz`` takes a fraction of that. The array cache lives in the user
cache directory, never beside the IDX files: data directories may be shared or read-only (and a
process running as root could write into them regardless of their permissions).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .idx import IDX_TYPE_CODES, read_idx

__all__ = ["user_cache_dir", "read_idx_cached", "array_cache_path"]

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


def _fingerprint(path: Path) -> np.ndarray:
    status = os.stat(path)
    return np.array([CACHE_FORMAT_VERSION, status.st_size, status.st_mtime_ns, status.st_ino],
                    dtype=np.int64)


def _read_cache(cache_file: Path, fingerprint: np.ndarray, expected_shape, expected_dtype):
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
