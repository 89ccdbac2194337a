"""Where the data set files are looked for, and deciding which copy a load uses.

Search order (the first directory holding all four files wins):

1. the ``data_dir`` argument,
2. the ``FASTMLP_DATA`` environment variable (one directory, or several separated by ``os.pathsep``),
3. the user cache, ``$XDG_CACHE_HOME/fastmlp`` or ``~/.cache/fastmlp``,

where each directory D is searched as ``D/<name>/`` (``mnist/`` or ``fashion-mnist/``) first and as
``D`` itself second. Files directly in D are taken to be whichever data set was asked for, because
MNIST and Fashion-MNIST files have the same names: keep the two in their own subfolders.
If nothing is found, the files are downloaded into ``<user cache>/<name>/`` (unless ``download=False``),
and if that fails too, the shipped MNIST sample is used where the caller allows it.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from .cache import user_cache_dir
from .catalog import FILE_ROLES, MIRRORS, DatasetSpec, get_spec
from .download import DEFAULT_TIMEOUT, DownloadFailed, download_files
from .errors import DatasetNotFoundError
from .sample import SAMPLE_SIZES

__all__ = ["DATA_ENV_VAR", "DatasetSource", "SearchLocation", "data_search_paths", "find_dataset",
           "locate_dataset"]

DATA_ENV_VAR = "FASTMLP_DATA"


@dataclass(frozen=True)
class SearchLocation:
    """One directory the loaders look in, and which of the four files it holds."""

    origin: str  # why it is searched: "data_dir argument", "FASTMLP_DATA" or "user cache"
    directory: Path
    found: Mapping[str, Path]  # file role ("train_images", ...) -> the file present for it
    missing: tuple[str, ...]  # official names of the files not present

    @property
    def exists(self) -> bool:
        return self.directory.is_dir()

    @property
    def complete(self) -> bool:
        return not self.missing

    def status(self) -> str:
        """One line for messages and ``fastmlp info``."""
        if not self.exists:
            state = "no such directory"
        elif self.complete:
            state = "all files found"
        elif not self.found:
            state = "no data set files"
        else:
            state = "missing " + ", ".join(self.missing)
        return f"{self.directory} ({self.origin}): {state}"


@dataclass(frozen=True)
class DatasetSource:
    """Where a load takes its data from: a directory of the four files, or the shipped sample."""

    name: str  # "mnist" or "fashion-mnist"
    kind: str  # "files" or "sample"
    origin: str  # "data_dir argument", "FASTMLP_DATA", "user cache", "download" or "shipped sample"
    directory: Path | None = None  # for kind "files"
    files: Mapping[str, Path] = field(default_factory=dict)  # for kind "files": role -> file

    @property
    def is_sample(self) -> bool:
        return self.kind == "sample"

    @property
    def description(self) -> str:
        """E.g. "full MNIST from /data/mnist" or "shipped MNIST sample (6,000/1,000 images)"."""
        title = get_spec(self.name).title
        if self.is_sample:
            return f"shipped {title} sample ({SAMPLE_SIZES['train']:,}/{SAMPLE_SIZES['test']:,} images)"
        return f"full {title} from {self.directory}"


def data_search_paths(name: str = "mnist", data_dir: str | os.PathLike | None = None) -> list[SearchLocation]:
    """Every directory searched for data set ``name``, in search order, with what each holds.

    Looks only at the file system (no network, no file contents). Directories listed twice (e.g.
    ``data_dir`` equal to ``FASTMLP_DATA``) appear once, under their first origin.
    """
    spec = get_spec(name)
    locations, seen = [], set()
    for origin, root in _search_roots(data_dir):
        for directory in (root / spec.subfolder, root):
            if directory not in seen:
                seen.add(directory)
                locations.append(_inspect(spec, origin, directory))
    return locations


def find_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None) -> DatasetSource | None:
    """The first searched directory holding all four files of ``name``, or None. Never downloads."""
    spec = get_spec(name)
    for location in data_search_paths(spec.name, data_dir):
        if location.complete:
            return DatasetSource(spec.name, "files", location.origin, location.directory, location.found)
    return None


def locate_dataset(name: str = "mnist", *, data_dir: str | os.PathLike | None = None, download: bool = True,
                   allow_sample: bool = False, mirrors: Sequence[str] | None = None, progress: bool = True,
                   timeout: float = DEFAULT_TIMEOUT) -> DatasetSource:
    """Decide where a load of ``name`` takes its data from, downloading it if needed and allowed.

    Order: :func:`find_dataset`; then, if ``download``, a download into the user cache from
    ``mirrors`` (default ``MIRRORS[name]``); then, if ``allow_sample`` and the data set has a shipped
    sample (MNIST only), the sample, with a :class:`UserWarning` saying why.

    Raises:
        DatasetNotFoundError: none of these worked. The message lists the directories searched and
            what was missing in each, every download attempt, and how to place the files by hand.
    """
    return _locate(get_spec(name), data_dir, download, allow_sample, mirrors, progress, timeout, stacklevel=3)


def _locate(spec: DatasetSpec, data_dir, download, allow_sample, mirrors, progress, timeout,
            stacklevel: int) -> DatasetSource:
    found = find_dataset(spec.name, data_dir)
    if found is not None:
        return found
    failure = None
    if download:
        try:
            directory = download_files(spec, mirrors=mirrors, progress=progress, timeout=timeout)
        except DownloadFailed as exc:
            failure = exc
        else:
            files = _inspect(spec, "download", directory).found
            return DatasetSource(spec.name, "files", "download", directory, files)
    message = _not_found_message(spec, data_search_paths(spec.name, data_dir), download, failure, mirrors)
    if allow_sample and spec.has_sample:
        warnings.warn(f"{message}\nFalling back to the shipped {spec.title} sample "
                      f"({SAMPLE_SIZES['train']:,} training / {SAMPLE_SIZES['test']:,} test images).",
                      UserWarning, stacklevel=stacklevel)
        return DatasetSource(spec.name, "sample", "shipped sample")
    if allow_sample:
        message += f"\n({spec.title} has no shipped sample to fall back to.)"
    raise DatasetNotFoundError(message)


def _search_roots(data_dir) -> list[tuple[str, Path]]:
    roots = []
    if data_dir is not None:
        roots.append(("data_dir argument", _absolute(data_dir)))
    for entry in os.environ.get(DATA_ENV_VAR, "").split(os.pathsep):
        if entry.strip():
            roots.append((DATA_ENV_VAR, _absolute(entry.strip())))
    roots.append(("user cache", user_cache_dir()))
    return roots


def _absolute(directory) -> Path:
    return Path(os.path.abspath(os.path.expanduser(os.fspath(directory))))


def _inspect(spec: DatasetSpec, origin: str, directory: Path) -> SearchLocation:
    found, missing = {}, []
    for role in FILE_ROLES:
        file = spec.files[role]
        present = next((directory / n for n in file.candidate_names() if (directory / n).is_file()), None)
        if present is None:
            missing.append(file.filename)
        else:
            found[role] = present
    return SearchLocation(origin, directory, found, tuple(missing))


def _not_found_message(spec, locations, download, failure, mirrors) -> str:
    mirrors = list(MIRRORS[spec.name] if mirrors is None else mirrors)
    lines = [f"{spec.title} was not found" + (" and could not be downloaded." if download else ".")]
    lines.append(f"Looked for {', '.join(spec.file_names)} (gzipped or not) in:")
    lines += [f"  - {location.status()}" for location in locations]
    if not os.environ.get(DATA_ENV_VAR, "").strip():
        lines.append(f"  ({DATA_ENV_VAR} is not set.)")
    if not download:
        lines.append("No download was attempted (download=False).")
    elif failure is not None:
        lines.append("Download attempts:")
        lines += [f"  - {url}: {reason}" for url, reason in failure.attempts] or ["  (no mirrors configured)"]
    lines.append(
        f"To install {spec.title} by hand, fetch those four files from "
        f"{' or '.join(mirrors) if mirrors else 'a mirror'} and put them in {user_cache_dir() / spec.subfolder}, "
        f"or in any directory passed as data_dir= or named by {DATA_ENV_VAR} "
        f"(directly or in a '{spec.subfolder}/' subfolder)."
    )
    return "\n".join(lines)
