"""Downloading the official data set files into the user cache, safely.

Each file is streamed into a temporary file in its final directory, checked against the known MD5
(and SHA-256 where known), and only then atomically renamed into place with :func:`os.replace`. On
any failure the temporary file is deleted, so the cache never holds a partial or unverified file.
Mirrors are tried in turn until one delivers a file with the right checksum.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from .cache import user_cache_dir
from .catalog import FILE_ROLES, MIRRORS, DatasetSpec, get_spec
from .errors import DatasetNotFoundError

__all__ = ["download_dataset", "fetch_file", "DownloadFailed", "DEFAULT_TIMEOUT"]

#: Seconds to wait for a mirror to connect or send more data.
DEFAULT_TIMEOUT = 30.0
_CHUNK_SIZE = 1 << 16
_USER_AGENT = "fastmlp-datasets (+https://pypi.org/project/fastmlp/)"


class DownloadFailed(Exception):
    """No mirror delivered a file with the right checksum. ``attempts`` holds (url, reason) pairs."""

    def __init__(self, file_name: str, attempts: list[tuple[str, str]]):
        self.file_name = file_name
        self.attempts = attempts
        lines = [f"could not download {file_name}:"] + [f"  {url}: {reason}" for url, reason in attempts]
        super().__init__("\n".join(lines) if attempts else f"could not download {file_name}: no mirrors")


def download_dataset(name: str = "mnist", *, mirrors: Sequence[str] | None = None,
                     cache_dir: str | os.PathLike | None = None, progress: bool = True,
                     timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Download the four files of data set ``name`` into ``<cache_dir>/<name>/`` and return that folder.

    ``cache_dir`` defaults to :func:`user_cache_dir`, ``mirrors`` to ``MIRRORS[name]``. Files already
    there are kept. Raises :class:`DatasetNotFoundError` if a file cannot be fetched from any mirror.
    """
    spec = get_spec(name)
    try:
        return download_files(spec, mirrors=mirrors, cache_dir=cache_dir, progress=progress, timeout=timeout)
    except DownloadFailed as failure:
        raise DatasetNotFoundError(
            f"{spec.title} could not be downloaded.\n{failure}\n"
            f"Download the files {', '.join(spec.file_names)} by hand and place them in "
            f"{Path(cache_dir or user_cache_dir()) / spec.subfolder}."
        ) from failure


def download_files(spec: DatasetSpec, *, mirrors=None, cache_dir=None, progress=True,
                   timeout=DEFAULT_TIMEOUT) -> Path:
    """:func:`download_dataset` for a spec; raises :class:`DownloadFailed` instead."""
    mirrors = list(MIRRORS[spec.name] if mirrors is None else mirrors)
    target_dir = Path(cache_dir or user_cache_dir()) / spec.subfolder
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadFailed(spec.file_names[0], [(str(target_dir), f"cannot create the directory ({exc})")])
    for role in FILE_ROLES:
        file = spec.files[role]
        if not (target_dir / file.filename).is_file():
            fetch_file(file.filename, file.md5, mirrors, target_dir, sha256=file.sha256,
                       progress=progress, timeout=timeout)
    return target_dir


def fetch_file(file_name: str, md5: str, mirrors: Sequence[str], target_dir: str | os.PathLike, *,
               sha256: str | None = None, progress: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Fetch ``<mirror>/<file_name>`` from the first mirror that serves it with the right checksum.

    The file ends up as ``target_dir/file_name`` (replacing any file of that name) and its path is
    returned. Raises :class:`DownloadFailed` listing every attempt if no mirror succeeds; nothing is
    then left in ``target_dir``.
    """
    if isinstance(mirrors, str):
        raise TypeError("mirrors must be a sequence of base URLs, not a single str")
    target = Path(target_dir) / file_name
    attempts = []
    for base in mirrors:
        url = base if base.endswith("/") else base + "/"
        url += file_name
        reason = _try_fetch(url, target, md5, sha256, progress, timeout)
        if reason is None:
            return target
        attempts.append((url, reason))
    raise DownloadFailed(file_name, attempts)


def _try_fetch(url: str, target: Path, md5: str, sha256: str | None, progress: bool,
               timeout: float) -> str | None:
    """Download ``url`` into ``target``; None on success, else why it failed."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        return f"cannot write into {target.parent} ({exc})"
    renamed = False
    try:
        with os.fdopen(descriptor, "wb") as stream:
            digests = _stream_to(url, stream, progress, timeout, label=target.name)
            stream.flush()
            os.fsync(stream.fileno())
        if digests[0].hexdigest() != md5:
            return f"checksum mismatch: MD5 {digests[0].hexdigest()}, expected {md5}"
        if sha256 is not None and digests[1].hexdigest() != sha256:
            return f"checksum mismatch: SHA-256 {digests[1].hexdigest()}, expected {sha256}"
        os.replace(temporary, target)
        renamed = True
        return None
    except urllib.error.HTTPError as exc:
        exc.close()  # it holds the response; closing avoids a ResourceWarning
        return f"HTTP error {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"cannot connect ({exc.reason})"
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _stream_to(url, stream, progress, timeout, label):
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        received = 0
        with _progress_bar(expected, label, progress) as bar:
            while chunk := response.read(_CHUNK_SIZE):
                stream.write(chunk)
                md5.update(chunk)
                sha256.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if expected is not None and received != expected:
        raise OSError(f"incomplete transfer: received {received} of {expected} bytes")
    return md5, sha256


@contextlib.contextmanager
def _progress_bar(total: int | None, label: str, enabled: bool):
    """tqdm when installed, else one line on stderr; nothing at all when disabled."""
    if not enabled:
        yield _SilentBar()
        return
    try:
        from tqdm import tqdm  # optional dependency, imported only when a download happens
    except ImportError:
        size = f" ({total / 1e6:.1f} MB)" if total else ""
        print(f"fastmlp: downloading {label}{size} ...", file=sys.stderr, flush=True)
        yield _SilentBar()
        return
    with tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False) as bar:
        yield bar


class _SilentBar:
    def update(self, n: int) -> None:
        pass
