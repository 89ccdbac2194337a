"""Data sets for fastmlp: MNIST, Fashion-MNIST, the shipped MNIST sample and small synthetic problems.

Quick reference (details in each function's docstring)::

    X, y = load_mnist("train")                 # (60000, 784) float32 in [0, 1], (60000,) int64
    X, y = load_mnist("test", dtype="uint8", flatten=False)   # (10000, 28, 28) uint8
    splits = load_mnist_splits()               # {"train55k", "validation", "test"}: 55k / 5k / 10k
    X, y = load_mnist("train", sample=True)    # shipped sample: 6,000 train / 1,000 test images
    X, y = load_mnist("train", rows=np.arange(0, 60000, 4))   # only these rows are read (once cached)
    source = locate_dataset("mnist", allow_sample=True)   # what a load would use
    print(source.description)                  # "full MNIST from ..." / "shipped MNIST sample (...)"
    X, y = load_mnist("train", source=source)
    X, y = parity(4)                           # 16 bipolar 4-bit inputs and their parity

Where data comes from: ``data_dir=``, then ``$FASTMLP_DATA``, then the user cache
(``$XDG_CACHE_HOME/fastmlp`` or ``~/.cache/fastmlp``), each as ``<dir>/mnist/`` (or
``<dir>/fashion-mnist/``) or ``<dir>`` itself; otherwise a checksum-verified download from
:data:`MIRRORS` into the user cache (``download=False`` never touches the network); otherwise, with
``allow_sample=True``, the shipped MNIST sample with a :class:`UserWarning`. When all fail,
:class:`DatasetNotFoundError` (a :class:`FileNotFoundError`) says where it looked and how to place the
files by hand. Parsed arrays are cached as ``.npz`` under ``<user cache>/arrays/`` so repeated loads
skip decompression.
"""
from .cache import user_cache_dir
from .catalog import MIRRORS
from .download import download_dataset
from .errors import DatasetNotFoundError
from .generators import parity, sinusoid, xor
from .idx import read_idx
from .locate import DATA_ENV_VAR, DatasetSource, SearchLocation, data_search_paths, find_dataset, locate_dataset
from .mnist import (
    CLASSIC_SPLITS,
    SPLITS,
    VALIDATION_SIZE,
    load_fashion_mnist,
    load_fashion_mnist_splits,
    load_mnist,
    load_mnist_splits,
    split_length,
)

__all__ = [
    "CLASSIC_SPLITS",
    "DATA_ENV_VAR",
    "DatasetNotFoundError",
    "DatasetSource",
    "MIRRORS",
    "SPLITS",
    "SearchLocation",
    "VALIDATION_SIZE",
    "data_search_paths",
    "download_dataset",
    "find_dataset",
    "load_fashion_mnist",
    "load_fashion_mnist_splits",
    "load_mnist",
    "load_mnist_splits",
    "locate_dataset",
    "parity",
    "read_idx",
    "sinusoid",
    "split_length",
    "user_cache_dir",
    "xor",
]
