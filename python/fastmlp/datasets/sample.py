"""The small real MNIST sample shipped inside the package, for use without network or data files.

``fastmlp/data/mnist_sample.npz`` holds 6,000 training images (600 per class) drawn from the official
60,000 and 1,000 test images (100 per class) drawn from the official 10,000, with a fixed seed, by
``scripts/make_mnist_sample.py``. Each part keeps the official order (its indices are ascending), so
the last 500 training images — the sample's validation split — come from the end of the official
training set, like the official 5,000-image validation split. Arrays in the file:

    train_images (6000, 28, 28) uint8   train_labels (6000,) uint8   train_indices (6000,) int32
    test_images  (1000, 28, 28) uint8   test_labels  (1000,) uint8   test_indices  (1000,) int32
    seed () int64

``*_indices`` are the rows of the official files the images were taken from.
Licence: CC BY-SA 3.0, Yann LeCun and Corinna Cortes (see ``MNIST_SAMPLE_LICENSE.txt`` beside it).
"""
from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["SAMPLE_SIZES", "SAMPLE_VALIDATION_SIZE", "load_sample_part", "sample_resource"]

SAMPLE_FILE = "mnist_sample.npz"
#: Number of images per part of the shipped sample.
SAMPLE_SIZES = {"train": 6000, "test": 1000}
#: The sample's validation split: the last this-many images of its training part.
SAMPLE_VALIDATION_SIZE = 500


def sample_resource():
    """The shipped sample as an :mod:`importlib.resources` traversable (works from a wheel or zip)."""
    return resources.files("fastmlp") / "data" / SAMPLE_FILE


def load_sample_part(part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and labels (n,) uint8 of the sample's ``"train"`` or ``"test"`` part."""
    if part not in SAMPLE_SIZES:
        raise ValueError(f"unknown sample part {part!r}; expected 'train' or 'test'")
    with resources.as_file(sample_resource()) as path, open(path, "rb") as stream, \
            np.load(stream, allow_pickle=False) as sample:
        images, labels = sample[f"{part}_images"], sample[f"{part}_labels"]
    expected = SAMPLE_SIZES[part]
    if images.shape != (expected, 28, 28) or labels.shape != (expected,) or images.dtype != np.uint8:
        raise ValueError(
            f"the shipped MNIST sample is damaged: its {part} part has images {images.shape} "
            f"{images.dtype} and labels {labels.shape}, expected ({expected}, 28, 28) uint8 and "
            f"({expected},); reinstall fastmlp or rebuild it with scripts/make_mnist_sample.py"
        )
    return images, labels
