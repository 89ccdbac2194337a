#!/usr/bin/env python3
"""Rebuild python/fastmlp/data/mnist_sample.npz, the MNIST sample shipped with fastmlp.

    python scripts/make_mnist_sample.py --source DIR [--output FILE] [--seed N]

DIR holds the four official MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), directly or in DIR/mnist/; their MD5s are
checked against the published ones. From the official training set 600 images per class are drawn,
and from the official test set 100 per class, with a fixed seed; each part keeps the official order.

The result is reproducible: the same files and seed give the same arrays, and the written file is
byte-identical on a given machine (fixed zip timestamps; the compressed bytes may differ between
zlib versions, the arrays never do). The script needs only NumPy, not a built fastmlp, so it runs
from a plain source checkout.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

DEFAULT_SEED = 1998  # the year MNIST was published
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
N_CLASSES = 10
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "python" / "fastmlp" / "data" / "mnist_sample.npz"

# The published MD5s of the official gzipped files (the same as in fastmlp.datasets.catalog).
OFFICIAL_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold; fixed so the bytes do not vary


def select_stratified(labels: np.ndarray, per_class: int, seed) -> np.ndarray:
    """Ascending indices of ``per_class`` rows of each class 0..9 of ``labels``, drawn at random.

    Deterministic for a given ``seed`` (an int or a sequence of ints for numpy's SeedSequence).
    Draws random keys with ``Generator.random`` and keeps the smallest, rather than calling
    ``Generator.choice``, because ``random`` turns the PCG64 stream into doubles the same way in every
    NumPy version while ``choice``'s algorithm is free to change.
    """
    labels = np.asarray(labels)
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen = []
    for label in range(N_CLASSES):
        members = np.flatnonzero(labels == label)
        if members.size < per_class:
            raise ValueError(f"class {label} has {members.size} rows, fewer than the {per_class} requested")
        keys = rng.random(members.size)
        chosen.append(members[np.argsort(keys, kind="stable")[:per_class]])
    return np.sort(np.concatenate(chosen))


def build_sample(train_images, train_labels, test_images, test_labels, seed: int = DEFAULT_SEED) -> dict:
    """The arrays of the sample file, in the order they are written (see fastmlp.datasets.sample)."""
    train_rows = select_stratified(train_labels, TRAIN_PER_CLASS, [seed, 0])
    test_rows = select_stratified(test_labels, TEST_PER_CLASS, [seed, 1])
    return {
        "train_images": np.ascontiguousarray(train_images[train_rows], dtype=np.uint8),
        "train_labels": np.ascontiguousarray(train_labels[train_rows], dtype=np.uint8),
        "train_indices": train_rows.astype("<i4"),
        "test_images": np.ascontiguousarray(test_images[test_rows], dtype=np.uint8),
        "test_labels": np.ascontiguousarray(test_labels[test_rows], dtype=np.uint8),
        "test_indices": test_rows.astype("<i4"),
        "seed": np.array(seed, dtype="<i8"),
    }


def write_npz(arrays: dict, path: Path) -> None:
    """Write ``arrays`` as a compressed .npz readable by ``numpy.load``, reproducibly and atomically."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as stream, zipfile.ZipFile(stream, "w") as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
                member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIMESTAMP)
                member.external_attr = 0o644 << 16
                archive.writestr(member, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED,
                                 compresslevel=9)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def read_official(source: Path) -> dict[str, np.ndarray]:
    """The four official arrays from ``source`` or ``source/mnist``, after checking their MD5s."""
    directory = source / "mnist" if (source / "mnist" / "train-images-idx3-ubyte.gz").is_file() else source
    arrays = {}
    for name, md5 in OFFICIAL_MD5.items():
        content = (directory / name).read_bytes()
        actual = hashlib.md5(content, usedforsecurity=False).hexdigest()
        if actual != md5:
            raise SystemExit(f"{directory / name}: MD5 {actual}, expected the official {md5}")
        arrays[name] = _parse_uint8_idx(gzip.decompress(content), directory / name)
    return arrays


def _parse_uint8_idx(content: bytes, path: Path) -> np.ndarray:
    """A uint8 IDX file (type code 0x08) as an array; minimal on purpose, the MD5 vouches for the file."""
    if content[:3] != b"\x00\x00\x08":
        raise SystemExit(f"{path}: not a uint8 IDX file")
    ndim = content[3]
    shape = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="directory with the official MNIST .gz files")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default: {DEFAULT_SEED}")
    args = parser.parse_args(argv)
    official = read_official(args.source)
    arrays = build_sample(official["train-images-idx3-ubyte.gz"], official["train-labels-idx1-ubyte.gz"],
                          official["t10k-images-idx3-ubyte.gz"], official["t10k-labels-idx1-ubyte.gz"],
                          seed=args.seed)
    write_npz(arrays, args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes): "
          f"{len(arrays['train_images']):,} training and {len(arrays['test_images']):,} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
