"""What MNIST and Fashion-MNIST consist of: file names, checksums, shapes and download mirrors.

Both data sets use the same four IDX file names, so the data set a directory holds is told apart only
by where it is (a ``mnist/`` or ``fashion-mnist/`` subfolder, or a directory given for that data set).

The checksums are those of the gzipped files the mirrors serve; they are checked on download only.
Files a user places by hand are not checked against them, because re-compressed copies (for example
Debian's Fashion-MNIST package) hold the same images in a ``.gz`` with different bytes.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["DatasetSpec", "FileSpec", "MIRRORS", "FILE_ROLES", "DATASETS", "get_spec"]

#: The four files of a data set, in the order they are listed in messages.
FILE_ROLES = ("train_images", "train_labels", "test_images", "test_labels")

#: Download mirrors per data set, tried in turn. Mutate this dict (or pass ``mirrors=`` to the
#: loaders) to point downloads elsewhere, e.g. at a local server in tests.
MIRRORS: dict[str, list[str]] = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ],
    "fashion-mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ],
}


@dataclass(frozen=True)
class FileSpec:
    """One official file: its gzipped name, checksums of the gzipped bytes and the array it holds."""

    role: str
    filename: str  # the official gzipped name, e.g. "train-images-idx3-ubyte.gz"
    md5: str
    sha256: str | None  # None where only the published MD5 is known
    shape: tuple[int, ...]
    # SHA-256 of the decoded array's bytes (label files): names the data set whatever the compression, so a
    # directory of one data set's files is never taken for the other's (see mnist._check_identity)
    content_sha256: str | None = None

    @property
    def stem(self) -> str:
        """The name without ``.gz``, as the file is called once decompressed."""
        return self.filename[: -len(".gz")]

    def candidate_names(self) -> tuple[str, ...]:
        """Names this file is accepted under inside a directory, in order of preference.

        Besides the official names (gzipped or not) this accepts the dotted variant
        (``train-images.idx3-ubyte``) that some tools produce when they decompress the file, because
        that is the name stored inside the official gzip headers.
        """
        dotted = self.stem.replace("-idx", ".idx")
        return (self.filename, self.stem, dotted + ".gz", dotted)


@dataclass(frozen=True)
class DatasetSpec:
    """A data set of 28x28 uint8 images with labels 0..9, split into official train and test files."""

    name: str  # canonical name, also the subfolder looked for inside a data directory
    title: str  # human-readable name used in messages
    files: Mapping[str, FileSpec]
    has_sample: bool  # whether a small sample of it ships with the package
    n_classes: int = 10

    @property
    def subfolder(self) -> str:
        return self.name

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(self.files[role].filename for role in FILE_ROLES)


def _files(entries) -> Mapping[str, FileSpec]:
    return MappingProxyType({spec.role: spec for spec in (FileSpec(*entry) for entry in entries)})


# MNIST: the published MD5s (also those of /work/shared/data/mnist); SHA-256 computed from those files.
MNIST = DatasetSpec(
    name="mnist",
    title="MNIST",
    has_sample=True,
    files=_files([
        ("train_images", "train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", (60000, 28, 28)),
        ("train_labels", "train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432",
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", (60000,),
         "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13"),
        ("test_images", "t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3",
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", (10000, 28, 28)),
        ("test_labels", "t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c",
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", (10000,),
         "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5"),
    ]),
)

# Fashion-MNIST: the MD5s published by Zalando Research for the files its mirrors serve.
FASHION_MNIST = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    has_sample=False,
    files=_files([
        ("train_images", "train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", None,
         (60000, 28, 28)),
        ("train_labels", "train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", None,
         (60000,), "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7"),
        ("test_images", "t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", None,
         (10000, 28, 28)),
        ("test_labels", "t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", None,
         (10000,), "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9"),
    ]),
)

DATASETS: Mapping[str, DatasetSpec] = MappingProxyType({s.name: s for s in (MNIST, FASHION_MNIST)})


def get_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name`` ("mnist" or "fashion-mnist"; case and "_"/"-" do not matter)."""
    if not isinstance(name, str):
        raise TypeError(f"data set name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    try:
        return DATASETS[key]
    except KeyError:
        raise ValueError(
            f"unknown data set {name!r}; expected one of {', '.join(map(repr, DATASETS))}"
        ) from None
