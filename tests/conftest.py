"""Shared fixtures. Real data comes from ../shared/data beside the checkout (or FASTMLP_TEST_DATA) and the
tests that need it skip cleanly when it is absent."""
import gzip
import os
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def threads():
    """fastmlp.set_num_threads, with the thread count restored after the test."""
    import fastmlp

    before = fastmlp.get_num_threads()
    yield fastmlp.set_num_threads
    fastmlp.set_num_threads(before)


def shared_data_dir():
    env = os.environ.get("FASTMLP_TEST_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _read_idx_gz(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@pytest.fixture(scope="session")
def mnist_small():
    """5,000 MNIST training images as float32 in [0, 1] with their labels (read directly, no fastmlp code)."""
    folder = shared_data_dir() / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST not found in {folder}")
    X = _read_idx_gz(folder / "train-images-idx3-ubyte.gz")[:5000].reshape(5000, -1).astype(np.float32) / 255
    y = _read_idx_gz(folder / "train-labels-idx1-ubyte.gz")[:5000].astype(np.int64)
    return X, y
