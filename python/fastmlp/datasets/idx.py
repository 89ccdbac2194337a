"""Reader for the IDX file format used by MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (TT: element type code, DD: number of
dimensions), then DD big-endian uint32 dimension sizes, then the elements in C (row-major) order,
big-endian. See http://yann.lecun.com/exdb/mnist/ ("THE IDX FILE FORMAT").
"""
from __future__ import annotations

import gzip
import math
import os
import stat
import zlib
from pathlib import Path
from typing import BinaryIO

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
#: Bytes read from the stream at a time (1 MiB): a file declaring more than it holds costs at most this more.
_READ_PIECE = 1 << 20


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a new native-endian NumPy array.

    Compression is recognised by the file's content (the gzip magic bytes), not by its name. The
    array has the shape declared in the header and the dtype of the element type code
    (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), in the machine's
    byte order, and is writable. The file is read as a stream: the header is checked before the data is
    read, and no more than the declared data is ever decompressed, so a damaged header or a
    decompression bomb raises ValueError instead of exhausting memory.

    Raises:
        FileNotFoundError / OSError: the file cannot be opened.
        ValueError: the content is not a valid IDX file — empty file, bad magic number, unknown type
            code, truncated header, data shorter or longer than the header declares, a declared size
            larger than the file can hold, or a corrupt or truncated gzip stream. The message starts
            with the file's path.
    """
    path = Path(os.fspath(path))
    with open(path, "rb") as raw:
        compressed = raw.peek(2)[:2] == _GZIP_MAGIC  # peek, not read and seek back: pipes work too
        if not compressed:
            status = os.fstat(raw.fileno())
            return _read_stream(raw, path, status.st_size if stat.S_ISREG(status.st_mode) else None)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_stream(stream, path, None)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


def _read_stream(stream: BinaryIO, path: Path, file_size: int | None) -> np.ndarray:
    """Parse an IDX stream; ``file_size`` (raw regular files) lets an impossible declared size fail before any
    allocation. The size of a gzip stream or a pipe is unknown up front: its data is read in pieces, so memory
    grows only with the bytes actually present (at most the declared size)."""
    magic = stream.read(4)
    if not magic:
        raise ValueError(f"{path}: the file is empty (expected an IDX header)")
    if len(magic) < 4:
        raise ValueError(f"{path}: only {len(magic)} bytes, too short for the 4-byte IDX magic number")
    zero_a, zero_b, type_code, ndim = magic
    if zero_a or zero_b:
        raise ValueError(
            f"{path}: bad magic number 0x{magic.hex().upper()}; an IDX file starts with two "
            f"zero bytes, then the element type code and the number of dimensions"
        )
    if type_code not in IDX_TYPE_CODES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_TYPE_CODES)
        raise ValueError(f"{path}: unknown IDX element type code 0x{type_code:02X} (expected one of {known})")
    if ndim == 0:
        raise ValueError(f"{path}: the IDX header declares 0 dimensions (expected at least 1)")
    header_size = 4 + 4 * ndim
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated header: {ndim} dimensions need {header_size} header bytes, "
            f"the file has {4 + len(dims)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4"))
    dtype = IDX_TYPE_CODES[type_code]
    count = math.prod(shape)
    expected = count * dtype.itemsize
    if file_size is not None:  # a regular file: its size is checked first, then read straight into the array
        actual = file_size - header_size
        if actual != expected:
            _size_mismatch(path, shape, dtype, expected,
                           "truncated data" if actual < expected else "unexpected trailing bytes", actual)
        data = bytearray(expected)
        got = stream.readinto(data)
        if got != expected:  # the file shrank meanwhile
            _size_mismatch(path, shape, dtype, expected, "truncated data", got)
    else:
        data = bytearray()
        while len(data) < expected:  # pieces: a stream shorter than declared never costs the declared size
            piece = stream.read(min(_READ_PIECE, expected - len(data)))
            if not piece:
                _size_mismatch(path, shape, dtype, expected, "truncated data", len(data))
            data += piece
    if stream.read(1):  # not read to the end: that could be a decompression bomb's worth
        _size_mismatch(path, shape, dtype, expected, "unexpected trailing bytes", f"more than {expected}")
    native = dtype.newbyteorder("=")
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape)  # writable: a bytearray's memory
    return array.view(native) if native == dtype else array.astype(native)  # multi-byte types are swapped


def _size_mismatch(path, shape, dtype, expected, problem, actual):
    raise ValueError(
        f"{path}: {problem}: the header declares shape {shape} of {dtype.newbyteorder('=').name}, "
        f"i.e. {expected} data bytes, but {actual} follow the header"
    )
