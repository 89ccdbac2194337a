"""The parts of ``fastmlp study`` and where each lives.

``features`` is the feature-learning study of this package (:mod:`fastmlp.study.experiments`);
``parity`` and ``approximation`` come from :mod:`fastmlp.parity` and :mod:`fastmlp.approximation`,
imported only when run, each exposing ``run_<part>_part(out_dir, quick=False) -> dict`` (JSON-serialisable
numbers and a ``files`` list). A build without one of those modules reports the part as unavailable.
"""
from __future__ import annotations

import importlib

__all__ = ["PARTS", "ALL_PARTS", "EXTERNAL_PARTS", "PartUnavailable", "load_part", "part_available",
           "resolve_parts"]

#: Every part, in the order ``--part all`` runs them.
ALL_PARTS = ("features", "parity", "approximation")
#: What ``--part`` accepts.
PARTS = ("all",) + ALL_PARTS
#: Parts provided by other modules: part -> (module, function).
EXTERNAL_PARTS = {
    "parity": ("fastmlp.parity", "run_parity_part"),
    "approximation": ("fastmlp.approximation", "run_approximation_part"),
}


class PartUnavailable(RuntimeError):
    """A study part whose module is not in this build."""


def load_part(name):
    """The ``run_<part>_part(out_dir, quick=False)`` function of an external part.

    Raises PartUnavailable when its module (or the function) is missing; an ImportError raised by a
    module that does exist (a real bug or a missing dependency of it) propagates unchanged.
    """
    if name not in EXTERNAL_PARTS:
        raise ValueError(f"unknown study part {name!r}; expected one of {', '.join(EXTERNAL_PARTS)}")
    module_name, function_name = EXTERNAL_PARTS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise PartUnavailable(f"part '{name}' is not available in this build") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise PartUnavailable(f"part '{name}' is not available in this build")
    return function


def part_available(name) -> bool:
    if name == "features":
        return True
    try:
        load_part(name)
    except PartUnavailable:
        return False
    return True


def resolve_parts(part: str) -> tuple[str, ...]:
    """The parts ``--part part`` runs."""
    if part not in PARTS:
        raise ValueError(f"unknown study part {part!r}; expected one of {', '.join(PARTS)}")
    return ALL_PARTS if part == "all" else (part,)
