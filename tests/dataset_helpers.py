"""Shared helpers of the datasets tests: isolated environment, IDX encoding, fake data folders."""
import gzip
import importlib.util
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from fastmlp.datasets import catalog

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FASTMLP_TEST_DATA") or REPO.parent / "shared" / "data")
HAVE_MNIST = (SHARED / "mnist" / "train-images-idx3-ubyte.gz").is_file()
HAVE_FASHION = (SHARED / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason=f"official MNIST files not in {SHARED / 'mnist'}")
needs_fashion = pytest.mark.skipif(not HAVE_FASHION, reason=f"Fashion-MNIST not in {SHARED / 'fashion-mnist'}")
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TYPE_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)  # the test server is on 127.0.0.1
    return tmp_path / "xdg-cache" / "fastmlp"


def idx_bytes(array, type_code):
    """An IDX encoding written independently of the reader under test."""
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(TYPE_CODES[type_code]).tobytes()


def write_dataset_dir(directory, images_shape=(10000, 28, 28), labels=None, names=None):
    """A directory with all four files under their official names (gzipped), small content by default."""
    directory.mkdir(parents=True, exist_ok=True)
    labels = np.zeros(images_shape[0], np.uint8) if labels is None else labels
    for role, name in zip(catalog.FILE_ROLES, names or catalog.MNIST.file_names):
        array = np.zeros(images_shape, np.uint8) if role.endswith("images") else labels
        (directory / name).write_bytes(gzip.compress(idx_bytes(array, 0x08)))
    return directory


def load_script():
    spec = importlib.util.spec_from_file_location("make_mnist_sample", REPO / "scripts" / "make_mnist_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

