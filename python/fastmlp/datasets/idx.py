"""Reader for the IDX file format used by MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT: element type code, DD: number of
dimensions), then DD big-endian uint32 dimension sizes, then the elements in C (row-major) order,
big-endian. See http://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT").
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "IDX_TYPE_CODES"]

#: IDX element type code -> the big-endian dtype the file stores.
IDX_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a new native-endian NumPy array.

    Compression is recognised by the file's content (the gzip magic bytes), not by its name. The
    array has the shape declared in the header and the dtype of the element type code
    (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), in the machine's
    byte order, and is writable.

    Raises:
        FileNotFoundError / OSError: the file cannot be opened.
        ValueError: the content is not a valid IDX file — empty file, bad magic number, unknown type
            code, truncated header, data shorter or longer than the header declares, or a corrupt or
            truncated gzip stream. The message starts with the file's path.
    """
    path = Path(os.fspath(path))
    content = _read_content(path)
    return _parse_idx(content, path)


def _read_content(path: Path) -> bytes:
    with open(path, "rb") as stream:
        content = stream.read()
    if not content.startswith(_GZIP_MAGIC):
        return content
    try:
        return gzip.decompress(content)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


def _parse_idx(content: bytes, path: Path) -> np.ndarray:
    if not content:
        raise ValueError(f"{path}: the file is empty (expected an IDX header)")
    if len(content) < 4:
        raise ValueError(f"{path}: only {len(content)} bytes, too short for the 4-byte IDX magic number")
    zero_a, zero_b, type_code, ndim = content[:4]
    if zero_a or zero_b:
        raise ValueError(
            f"{path}: bad magic number 0x{content[:4].hex().upper()}; an IDX file starts with two "
            f"zero bytes, then the element type code and the number of dimensions"
        )
    if type_code not in IDX_TYPE_CODES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_TYPE_CODES)
        raise ValueError(f"{path}: unknown IDX element type code 0x{type_code:02X} (expected one of {known})")
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header declares 0 dimensions (expected at least 1)")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise ValueError(
            f"{path}: truncated header: {ndim} dimensions need {header_size} header bytes, "
            f"the file has {len(content)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPE_CODES[type_code]
    count = math.prod(shape)
    expected = count * dtype.itemsize
    actual = len(content) - header_size
    if actual != expected:
        problem = "truncated data" if actual < expected else "unexpected trailing bytes"
        raise ValueError(
            f"{path}: {problem}: the header declares shape {shape} of {dtype.newbyteorder('=').name}, "
            f"i.e. {expected} data bytes, but {actual} follow the header"
        )
    data = np.frombuffer(content, dtype=dtype, count=count, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # astype copies: writable, native byte order
