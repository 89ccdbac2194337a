"""Errors of the ``fastmlp`` command: one line on stderr for the user."""
from __future__ import annotations


class CommandError(Exception):
    """An error whose message is meant for the user as is."""


def _one_line(exc):
    text = str(exc).strip()
    if not text:
        return type(exc).__name__
    first, *rest = text.splitlines()
    from ..datasets import DatasetNotFoundError

    if isinstance(exc, DatasetNotFoundError):
        return first + " Run `fastmlp info` to see where data is looked for, or use --sample."
    if isinstance(exc, (CommandError, ImportError, FileNotFoundError, PermissionError, RuntimeError)):
        return first + (" (--debug shows more)" if rest else "")
    return f"{type(exc).__name__}: {first}" + (" (--debug shows more)" if rest else "")
