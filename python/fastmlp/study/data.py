"""The data of the feature-learning study: which data set a run uses and its classic split."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .config import StudyConfig

__all__ = ["StudyData", "resolve_source", "load_study_data"]

FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Boot")


@dataclass
class StudyData:
    """The classic split of one data set, as float32 pixels in [0, 1] and int64 labels."""

    name: str
    title: str
    description: str
    is_sample: bool
    origin: str
    directory: str | None
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    notes: list

    def summary(self) -> dict:
        return {"dataset": self.name, "title": self.title, "source": self.description,
                "is_sample": self.is_sample, "origin": self.origin, "directory": self.directory,
                "n_train": int(len(self.X_train)), "n_validation": int(len(self.X_val)),
                "n_test": int(len(self.X_test)), "n_features": int(self.X_train.shape[1]),
                "pixel_range": [float(self.X_train.min()), float(self.X_train.max())],
                "splits": "train55k = the official training images except the last 5,000 (the last 500 of "
                          "the sample), validation = those last images, test = the official test images",
                "notes": list(self.notes)}


def resolve_source(dataset="mnist", *, data_dir=None, sample=False, download=True, timeout=10.0,
                   reporter=None, allow_sample=True):
    """The :class:`~fastmlp.datasets.DatasetSource` a run uses, and the notes said about it.

    ``sample=True`` takes the shipped MNIST sample without searching. Otherwise the data set is searched
    for, downloaded if allowed, and — for MNIST with ``allow_sample`` — replaced by the shipped sample
    when both fail. That fall-back is announced through ``reporter.note`` (always shown) instead of the
    loaders' UserWarning, with the loaders' explanation (where it looked, what the downloads said) as a
    ``reporter.message``. Returns ``(source, notes)``.
    """
    from .. import datasets
    from .progress import Reporter

    reporter = Reporter(quiet=True) if reporter is None else reporter
    title = "Fashion-MNIST" if dataset == "fashion-mnist" else "MNIST"
    if sample:
        if dataset != "mnist":
            raise ValueError("only MNIST has a shipped sample (--sample needs --dataset mnist)")
        reporter.message("Using the shipped MNIST sample (--sample): no search, no download.")
        return datasets.DatasetSource("mnist", "sample", "shipped sample"), []
    if download and datasets.find_dataset(dataset, data_dir) is None:
        reporter.message(f"{title} not found locally; trying to download it (timeout {timeout:g} s per mirror)...")
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        source = datasets.locate_dataset(dataset, data_dir=data_dir, download=download,
                                         allow_sample=allow_sample and dataset == "mnist",
                                         progress=not reporter.quiet, timeout=timeout)
    for warning in caught:
        text = str(warning.message)
        if source.is_sample and issubclass(warning.category, UserWarning):
            headline = (f"note: the full {title} data set is not available, so this run uses the SHIPPED SAMPLE "
                        f"({source.description}); its numbers are not the full-data results. "
                        "`fastmlp info` shows where data is looked for.")
            reporter.note(headline)
            reporter.message("  " + text.replace("\n", "\n  "))
            notes.append(headline)
        else:
            reporter.note(f"note: {text}")
            notes.append(text)
    return source, notes


def load_study_data(config: StudyConfig, reporter) -> StudyData:
    """Find (or download, or fall back to the sample for) the data set and load its classic split
    (see :func:`resolve_source`)."""
    from .. import datasets

    name = config.dataset
    title = "Fashion-MNIST" if name == "fashion-mnist" else "MNIST"
    source, notes = resolve_source(name, data_dir=config.data_dir, sample=config.sample, download=config.download,
                                   timeout=config.download_timeout, reporter=reporter)
    loader = datasets.load_fashion_mnist_splits if name == "fashion-mnist" else datasets.load_mnist_splits
    splits = loader(source=source)
    (X_train, y_train), (X_val, y_val) = splits["train55k"], splits["validation"]
    X_test, y_test = splits["test"]
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(d) for d in range(10))
    return StudyData(name=name, title=title, description=source.description, is_sample=source.is_sample,
                     origin=source.origin, directory=None if source.directory is None else str(source.directory),
                     X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test,
                     class_names=classes, notes=notes)
