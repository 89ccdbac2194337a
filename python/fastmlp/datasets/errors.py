"""Exceptions raised by :mod:`fastmlp.datasets`."""
from __future__ import annotations

__all__ = ["DatasetNotFoundError"]


class DatasetNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable.

    The message lists every directory that was searched and what was missing there, every download
    attempt and why it failed, and how to place the files by hand. Being a :class:`FileNotFoundError`,
    it is also caught by ``except OSError``.
    """
