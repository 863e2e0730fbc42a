"""The IDX files MNIST is distributed in (`train-images-idx3-ubyte[.gz]`), read and converted to libsvm.

Layout: two zero bytes, a dtype code, the number of dimensions, then each dimension as a big-endian
u32, then the values big-endian and row-major. Gzip is detected from the content, not the name.
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
import numpy.typing as npt

from clusterflow.errors import DataFormatError

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"
_ROWS_PER_CHUNK = 10000


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_MAGIC
    handle = cast(BinaryIO, gzip.open(path, "rb") if gzipped else open(path, "rb"))  # noqa: SIM115
    try:
        yield handle
    finally:
        handle.close()


def _read_header(handle: BinaryIO, source: str) -> tuple[np.dtype, tuple[int, ...]]:
    head = handle.read(4)
    if len(head) < 4 or head[:2] != b"\x00\x00" or head[2] not in _DTYPES:
        raise DataFormatError("not an IDX file (bad magic number)", source=source)
    ndim = head[3]
    if ndim == 0:
        raise DataFormatError("IDX file declares 0 dimensions", source=source)
    dims = handle.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataFormatError("IDX header is truncated", source=source)
    return np.dtype(_DTYPES[head[2]]), struct.unpack(f">{ndim}I", dims)


def iter_idx_chunks(path: Path, *, rows_per_chunk: int = _ROWS_PER_CHUNK) -> Iterator[npt.NDArray]:
    """Stream an IDX file as arrays of up to `rows_per_chunk` items (each item flattened)."""
    source = str(path)
    with _open(path) as handle:
        dtype, shape = _read_header(handle, source)
        item_values = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        item_bytes = item_values * dtype.itemsize
        remaining = shape[0]
        while remaining > 0:
            rows = min(rows_per_chunk, remaining)
            data = handle.read(rows * item_bytes)
            if len(data) < rows * item_bytes:
                done = shape[0] - remaining + len(data) // item_bytes
                defect = f"IDX data is truncated: {done} of {shape[0]} items present"
                raise DataFormatError(defect, source=source)
            chunk = np.frombuffer(data, dtype=dtype).astype(dtype.newbyteorder("="))
            yield chunk.reshape(rows, item_values) if len(shape) > 1 else chunk
            remaining -= rows


def read_idx(path: Path) -> npt.NDArray:
    """The whole IDX array in its declared shape, native byte order."""
    with _open(path) as handle:
        _, shape = _read_header(handle, str(path))
    chunks = list(iter_idx_chunks(path))
    data = np.concatenate(chunks) if chunks else np.zeros(0)
    return data.reshape(shape)


def _item_count(path: Path) -> int:
    with _open(path) as handle:
        return _read_header(handle, str(path))[1][0]


def write_idx_as_libsvm(
    images_path: Path, labels_path: Path, out_path: Path, limit: int | None = None
) -> int:
    """Stream images + labels into one libsvm file (1-based pixel indices, zeros omitted); returns rows."""
    from clusterflow.formats.libsvm import write_libsvm

    images, labels = _item_count(images_path), _item_count(labels_path)
    if images != labels:
        defect = f"{images} images but {labels} labels in {labels_path}"
        raise DataFormatError(defect, source=str(images_path))
    wanted = images if limit is None else min(limit, images)
    written = 0
    with open(out_path, "wb") as out:
        pairs = zip(iter_idx_chunks(images_path), iter_idx_chunks(labels_path), strict=True)
        for image_chunk, label_chunk in pairs:
            take = min(wanted - written, image_chunk.shape[0])
            if take <= 0:
                break
            write_libsvm(out, label_chunk[:take].astype(np.float64), image_chunk[:take].astype(np.float32))
            written += take
    return written
