"""Loaders for MNIST and Fashion-MNIST.

Conventions of every loader here:

* ``X`` is float32 in [0, 1] (pixel / 255) of shape (n, 784) by default; ``dtype="uint8"`` gives the
  raw pixels 0..255 and ``flatten=False`` the shape (n, 28, 28). Rows are images in file order.
* ``y`` is int64 class labels 0..9, shape (n,).
* Splits (see :data:`SPLITS`): ``"train"`` is the official 60,000 training images, ``"test"`` the
  official 10,000 test images; ``"train55k"`` and ``"validation"`` divide the official training set
  into its first 55,000 and its LAST 5,000 images (the classic split). On the shipped sample the same
  names give 6,000 / 1,000 / 5,500 / 500 images (validation = the sample's last 500 training images).
"""
from __future__ import annotations

import hashlib
import os
from typing import Sequence

import numpy as np

from .cache import read_idx_cached, read_idx_rows_cached
from .catalog import DATASETS, FASHION_MNIST, MNIST, DatasetSpec, get_spec
from .download import DEFAULT_TIMEOUT
from .locate import DatasetSource, _locate
from .sample import SAMPLE_SIZES, SAMPLE_VALIDATION_SIZE, load_sample_part

__all__ = ["SPLITS", "CLASSIC_SPLITS", "VALIDATION_SIZE", "load_mnist", "load_fashion_mnist", "load_mnist_splits",
           "load_fashion_mnist_splits", "split_length"]

#: Valid values of ``split``.
SPLITS = ("train", "test", "train55k", "validation")
#: The splits returned by ``load_*_splits``: 55,000 / 5,000 / 10,000 images.
CLASSIC_SPLITS = ("train55k", "validation", "test")
#: Size of the "validation" split of the full data sets: the last 5,000 official training images.
VALIDATION_SIZE = 5000
_OUTPUT_DTYPES = (np.dtype(np.float32), np.dtype(np.uint8))


def load_mnist(split: str = "train", *, data_dir: str | os.PathLike | None = None, download: bool = True,
               sample: bool = False, allow_sample: bool = False, dtype="float32", flatten: bool = True,
               source: DatasetSource | None = None, mirrors: Sequence[str] | None = None,
               progress: bool = True, timeout: float = DEFAULT_TIMEOUT, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST as ``(X, y)`` (see the module docstring for shapes, dtypes and splits).

    Args:
        split: one of :data:`SPLITS`.
        data_dir: a directory searched first (see :mod:`fastmlp.datasets.locate` for the search order).
        download: if the files are not found, download them into the user cache. False never touches
            the network.
        sample: use the shipped 6,000/1,000-image sample instead of the full data set.
        allow_sample: if the full data set can be neither found nor downloaded, fall back to the
            shipped sample with a :class:`UserWarning` instead of raising.
        dtype: ``"float32"`` (scaled to [0, 1]) or ``"uint8"`` (raw pixels).
        flatten: rows of 784 pixels (True) or 28x28 images (False).
        source: use this :class:`DatasetSource` (from :func:`locate_dataset`) instead of searching.
        mirrors: base URLs to download from, instead of ``MIRRORS["mnist"]``.
        progress: show a download progress bar (tqdm when installed).
        timeout: seconds to wait for a mirror.
        rows: load only these images of the split (a 1-D array of indices into it, in any order, or
            a slice), e.g. one MPI rank's shard from :func:`fastmlp.distributed.shard_indices`. Once the
            array cache exists only these rows are read from disk (see :func:`split_length`).

    Raises:
        ValueError: a bad argument, or a data file that is not what it should be.
        DatasetNotFoundError: the data is nowhere to be found or fetched (and no sample fallback).
    """
    return _load(MNIST, (split,), data_dir=data_dir, download=download, sample=sample,
                 allow_sample=allow_sample, dtype=dtype, flatten=flatten, source=source, mirrors=mirrors,
                 progress=progress, timeout=timeout, rows=rows)[split]


def load_fashion_mnist(split: str = "train", *, data_dir: str | os.PathLike | None = None,
                       download: bool = True, sample: bool = False, allow_sample: bool = False,
                       dtype="float32", flatten: bool = True, source: DatasetSource | None = None,
                       mirrors: Sequence[str] | None = None, progress: bool = True,
                       timeout: float = DEFAULT_TIMEOUT, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of Fashion-MNIST as ``(X, y)``; arguments as for :func:`load_mnist`.

    Fashion-MNIST has no shipped sample: ``sample=True`` raises ValueError, and ``allow_sample=True``
    changes nothing (a missing data set still raises :class:`DatasetNotFoundError`).
    """
    return _load(FASHION_MNIST, (split,), data_dir=data_dir, download=download, sample=sample,
                 allow_sample=allow_sample, dtype=dtype, flatten=flatten, source=source, mirrors=mirrors,
                 progress=progress, timeout=timeout, rows=rows)[split]


def split_length(source: DatasetSource, split: str) -> int:
    """The number of images in ``split`` of the data set ``source`` stands for, without reading it."""
    _check_split(split)
    if not isinstance(source, DatasetSource):
        raise TypeError(f"source must be a DatasetSource, got {type(source).__name__}")
    start, stop = _split_range(split, source)
    return stop - start


def load_mnist_splits(*, data_dir: str | os.PathLike | None = None, download: bool = True,
                      sample: bool = False, allow_sample: bool = False, dtype="float32", flatten: bool = True,
                      source: DatasetSource | None = None, mirrors: Sequence[str] | None = None,
                      progress: bool = True,
                      timeout: float = DEFAULT_TIMEOUT) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The classic MNIST split as ``{"train55k": (X, y), "validation": (X, y), "test": (X, y)}``.

    Arguments as for :func:`load_mnist`. The training files are read once; the "train55k" and
    "validation" arrays are views into one array of all 60,000 (or 6,000) training images when
    ``dtype="uint8"``.
    """
    return _load(MNIST, CLASSIC_SPLITS, data_dir=data_dir, download=download, sample=sample,
                 allow_sample=allow_sample, dtype=dtype, flatten=flatten, source=source, mirrors=mirrors,
                 progress=progress, timeout=timeout)


def load_fashion_mnist_splits(*, data_dir: str | os.PathLike | None = None, download: bool = True,
                              sample: bool = False, allow_sample: bool = False, dtype="float32",
                              flatten: bool = True, source: DatasetSource | None = None,
                              mirrors: Sequence[str] | None = None, progress: bool = True,
                              timeout: float = DEFAULT_TIMEOUT) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """:func:`load_mnist_splits` for Fashion-MNIST."""
    return _load(FASHION_MNIST, CLASSIC_SPLITS, data_dir=data_dir, download=download, sample=sample,
                 allow_sample=allow_sample, dtype=dtype, flatten=flatten, source=source, mirrors=mirrors,
                 progress=progress, timeout=timeout)


def _load(spec: DatasetSpec, splits, *, data_dir, download, sample, allow_sample, dtype, flatten, source,
          mirrors, progress, timeout, rows=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (X, y)}`` for each of ``splits``, reading each of the train/test file pairs at most once
    (only ``rows`` of the one split when given)."""
    for split in splits:
        _check_split(split)
    out_dtype = _check_output(dtype, flatten)
    # stacklevel 5 makes a fallback warning point at the caller of the public loader:
    # caller -> load_mnist -> _load -> _resolve_source -> _locate -> warnings.warn
    source = _resolve_source(spec, data_dir, download, sample, allow_sample, source, mirrors, progress,
                             timeout, stacklevel=5)
    if rows is not None:
        (split,) = splits
        return {split: _format(*_read_rows(spec, source, split, rows), out_dtype, flatten)}
    parts, result = {}, {}
    for split in splits:
        part = "test" if split == "test" else "train"
        if part not in parts:
            parts[part] = _read_part(spec, source, part)
        result[split] = _format(*_select(split, *parts[part], source), out_dtype, flatten)
    return result


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(map(repr, SPLITS))}")


def _check_output(dtype, flatten) -> np.dtype:
    if not isinstance(flatten, (bool, np.bool_)):
        raise TypeError(f"flatten must be True or False, got {flatten!r}")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        out_dtype = None
    if out_dtype not in _OUTPUT_DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; expected 'float32' (pixels / 255) or 'uint8' (raw)")
    return out_dtype


def _resolve_source(spec: DatasetSpec, data_dir, download, sample, allow_sample, source, mirrors,
                    progress, timeout, stacklevel) -> DatasetSource:
    if source is not None:
        if not isinstance(source, DatasetSource):
            raise TypeError(f"source must be a DatasetSource, got {type(source).__name__}")
        if source.name != spec.name:
            raise ValueError(f"source is for data set {source.name!r}, not {spec.name!r}")
        return source
    if sample:
        if not spec.has_sample:
            raise ValueError(f"{spec.title} has no shipped sample; only MNIST does (sample=True)")
        return DatasetSource(spec.name, "sample", "shipped sample")
    return _locate(spec, data_dir, download, allow_sample, mirrors, progress, timeout, stacklevel=stacklevel)


def _read_part(spec: DatasetSpec, source: DatasetSource, part: str, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) uint8 of the "train" or "test" files, validated; with
    ``rows`` (indices into the part) only those, and from the full data set only they are read."""
    if source.is_sample:
        images, labels = load_sample_part(part)
        return (images, labels) if rows is None else (images[rows], labels[rows])
    images = _read_file(spec, source, f"{part}_images", rows)
    labels = _read_file(spec, source, f"{part}_labels")  # whole (60 kB), to tell which data set it is
    _check_identity(spec, source, f"{part}_labels", labels)
    if labels.size and labels.max() >= spec.n_classes:
        raise ValueError(f"{source.files[f'{part}_labels']}: labels must be 0..{spec.n_classes - 1}, "
                         f"found {int(labels.max())}")
    return images, (labels if rows is None else labels[rows])


def _check_identity(spec: DatasetSpec, source: DatasetSource, role: str, labels: np.ndarray) -> None:
    """ValueError if ``labels`` are exactly those of another data set's file: both use the same file names,
    so a directory of MNIST given for Fashion-MNIST (or the reverse) would otherwise load silently."""
    digest = hashlib.sha256(np.ascontiguousarray(labels).tobytes()).hexdigest()
    for other in DATASETS.values():
        if other is not spec and digest == other.files[role].content_sha256:
            raise ValueError(f"{source.files[role]} holds the {other.title} {role.replace('_', ' ')}, not "
                             f"{spec.title}'s ({source.description}); keep each data set in its own "
                             f"'{spec.subfolder}/' subfolder")


def _read_rows(spec: DatasetSpec, source: DatasetSource, split: str, rows) -> tuple[np.ndarray, np.ndarray]:
    """Images (k, 28, 28) uint8 and labels (k,) uint8 of ``rows`` of ``split``, validated."""
    start, stop = _split_range(split, source)
    return _read_part(spec, source, "test" if split == "test" else "train", _check_rows(rows, stop - start) + start)


def _check_rows(rows, n) -> np.ndarray:
    """``rows`` (indices or a slice into a split of ``n`` images) as an int64 array, or ValueError/TypeError."""
    if isinstance(rows, slice):
        return np.arange(n)[rows]
    array = np.asarray(rows)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise TypeError(f"rows must be a 1-D array of integer indices or a slice, got {array.dtype} of shape "
                        f"{array.shape}")
    array = array.astype(np.int64)
    if array.size and (array.min() < -n or array.max() >= n):
        raise ValueError(f"rows must be indices into the split's {n:,} images, got values from {array.min()} "
                         f"to {array.max()}")
    return np.where(array < 0, array + n, array)


def _split_range(split, source) -> tuple[int, int]:
    """``[start, stop)``: where ``split`` lies in its part (the train or test files)."""
    spec = get_spec(source.name)
    if split == "test":
        return 0, (SAMPLE_SIZES["test"] if source.is_sample else spec.files["test_images"].shape[0])
    n_train = SAMPLE_SIZES["train"] if source.is_sample else spec.files["train_images"].shape[0]
    n_validation = SAMPLE_VALIDATION_SIZE if source.is_sample else VALIDATION_SIZE
    return {"train": (0, n_train), "train55k": (0, n_train - n_validation),
            "validation": (n_train - n_validation, n_train)}[split]


def _read_file(spec, source, role, rows=None) -> np.ndarray:
    expected = spec.files[role].shape
    path = source.files[role]
    if rows is None:
        array = read_idx_cached(path, expected_shape=expected, expected_dtype=np.uint8)
    else:
        array = read_idx_rows_cached(path, rows, expected_shape=expected, expected_dtype=np.uint8)
        expected = (len(rows), *expected[1:])
    if array.shape != expected or array.dtype != np.uint8:
        raise ValueError(f"{path}: expected {spec.title} {role.replace('_', ' ')} of shape {expected} "
                         f"uint8, found shape {array.shape} {array.dtype}")
    return array


def _select(split, images, labels, source):
    start, stop = _split_range(split, source)
    return images[start:stop], labels[start:stop]


def _format(images, labels, out_dtype, flatten):
    X = images.reshape(len(images), int(np.prod(images.shape[1:]))) if flatten else images  # also 0 rows
    if out_dtype == np.float32:
        X = np.divide(X, np.float32(255), dtype=np.float32)  # exact: 0 -> 0.0, 255 -> 1.0
    return X, labels.astype(np.int64)
