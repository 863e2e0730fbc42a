"""MXNet NDArray list files (`mx.nd.save` / `mx.nd.load`), byte for byte as SageMaker writes them.

Layout (REFERENCE section 3, little-endian, no padding): u64 0x112, u64 0, u64 N; N arrays; u64 M names
(0 or N), each u64 length + UTF-8 bytes. Writing always uses the V2 array record that every real
artifact uses; reading also accepts V1, V3 and the legacy record without magic.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from clusterflow.errors import ModelArtifactError

LIST_MAGIC = 0x112
V1_MAGIC = 0xF993FAC8
V2_MAGIC = 0xF993FAC9
V3_MAGIC = 0xF993FACA

STORAGE_DENSE = 0
STORAGE_ROW_SPARSE = 1
STORAGE_CSR = 2
_AUX_COUNT = {STORAGE_ROW_SPARSE: 1, STORAGE_CSR: 2}
_STORAGE_NAMES = {STORAGE_ROW_SPARSE: "row_sparse", STORAGE_CSR: "csr"}

CPU_CONTEXT = (1, 0)
BF16_FLAG = 12

_FLAG_TO_DTYPE: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("<f8"),
    2: np.dtype("<f2"),
    3: np.dtype("u1"),
    4: np.dtype("<i4"),
    5: np.dtype("i1"),
    6: np.dtype("<i8"),
    7: np.dtype("?"),
    BF16_FLAG: np.dtype("<u2"),
}
_DTYPE_TO_FLAG: dict[np.dtype, int] = {dt.newbyteorder("="): flag for flag, dt in _FLAG_TO_DTYPE.items()}
del _DTYPE_TO_FLAG[np.dtype("u2")]


def dtype_flag(dtype: np.dtype) -> int:
    """MXNet's type flag for a numpy dtype; raises ModelArtifactError for dtypes MXNet cannot store."""
    flag = _DTYPE_TO_FLAG.get(np.dtype(dtype).newbyteorder("="))
    if flag is None:
        raise ModelArtifactError(f"dtype {np.dtype(dtype)} has no MXNet NDArray type flag")
    return flag


def _array_record(array: np.ndarray) -> bytes:
    flag = dtype_flag(array.dtype)
    # V2 cannot store a 0-d array (ndim 0 means "no array"); V3 reads ndim 0 as a scalar.
    magic = V2_MAGIC if array.ndim > 0 else V3_MAGIC
    header = struct.pack("<Iii", magic, STORAGE_DENSE, array.ndim)
    header += struct.pack(f"<{array.ndim}q", *array.shape)
    header += struct.pack("<iii", *CPU_CONTEXT, flag)
    data = np.ascontiguousarray(array, dtype=_FLAG_TO_DTYPE[flag]).tobytes()
    return header + data


def dumps_ndarray_list(arrays: Sequence[np.ndarray], names: Sequence[str] | None = None) -> bytes:
    """Serialize arrays as `mx.nd.save` does: a named list when `names` is given, else unnamed."""
    if names is not None and len(names) != len(arrays):
        raise ModelArtifactError(f"{len(names)} names for {len(arrays)} arrays")
    parts = [struct.pack("<QQQ", LIST_MAGIC, 0, len(arrays))]
    parts.extend(_array_record(np.asarray(array)) for array in arrays)
    parts.append(struct.pack("<Q", 0 if names is None else len(names)))
    for name in names or ():
        encoded = name.encode("utf-8")
        parts.append(struct.pack("<Q", len(encoded)) + encoded)
    return b"".join(parts)


@dataclass
class _Reader:
    data: bytes
    source: str
    offset: int = 0

    def take(self, size: int, what: str) -> bytes:
        end = self.offset + size
        if size < 0 or end > len(self.data):
            raise ModelArtifactError(
                f"{self.source}: truncated NDArray data at byte offset {self.offset}: "
                f"needed {size} bytes for {what}, {len(self.data) - self.offset} left"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple[int, ...]:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def one(self, fmt: str, what: str) -> int:
        return int(self.unpack(fmt, what)[0])

    def fail(self, message: str) -> ModelArtifactError:
        return ModelArtifactError(f"{self.source}: {message} (byte offset {self.offset})")


def _read_shape(reader: _Reader, ndim_fmt: str, dim_fmt: str, what: str) -> tuple[int, ...]:
    ndim = reader.one(ndim_fmt, f"{what} ndim")
    if ndim < 0:
        return (-1,)  # V3's "unknown shape": an empty array record
    if ndim > 32:
        raise reader.fail(f"{what}: implausible ndim {ndim}")
    return tuple(int(d) for d in reader.unpack(f"<{ndim}{dim_fmt}", f"{what} shape"))


def _read_data(reader: _Reader, shape: tuple[int, ...], flag: int, what: str) -> np.ndarray:
    dtype = _FLAG_TO_DTYPE.get(flag)
    if dtype is None:
        raise reader.fail(f"{what}: unknown dtype flag {flag}")
    if any(d < 0 for d in shape):
        raise reader.fail(f"{what}: negative dimension in shape {shape}")
    count = int(np.prod(shape, dtype=np.int64))
    raw = reader.take(count * dtype.itemsize, f"{what} data")
    values = np.frombuffer(raw, dtype=dtype).reshape(shape)
    if flag == BF16_FLAG:
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values.astype(dtype.newbyteorder("="))


def _read_context_and_flag(reader: _Reader, what: str) -> int:
    reader.unpack("<ii", f"{what} context")
    return reader.one("<i", f"{what} dtype flag")


def _skip_sparse(reader: _Reader, storage: int, shape: tuple[int, ...], what: str) -> None:
    """Consume a row_sparse/csr record so the names after it can still be read for the message."""
    aux_count = _AUX_COUNT[storage]
    storage_shape = shape
    flag = _read_context_and_flag(reader, what)
    aux_flags = [reader.one("<i", f"{what} aux type") for _ in range(aux_count)]
    aux_shapes = [_read_shape(reader, "<i", "q", what) for _ in range(aux_count)]
    _read_data(reader, storage_shape, flag, what)
    for aux_flag, aux_shape in zip(aux_flags, aux_shapes, strict=True):
        _read_data(reader, aux_shape, aux_flag, what)


def _read_v2_or_v3(reader: _Reader, magic: int, index: int) -> np.ndarray | int:
    """Returns the array, or the storage type when it is sparse (the caller raises with the name)."""
    what = f"array {index}"
    storage = reader.one("<i", f"{what} storage type")
    if storage not in (STORAGE_DENSE, *_AUX_COUNT):
        raise reader.fail(f"{what}: unknown storage type {storage}")
    storage_shape = _read_shape(reader, "<i", "q", what) if storage != STORAGE_DENSE else ()
    shape = _read_shape(reader, "<i", "q", what)
    if shape == (-1,) or (magic == V2_MAGIC and len(shape) == 0):
        return np.empty((0,), dtype=np.float32)
    if storage != STORAGE_DENSE:
        _skip_sparse(reader, storage, storage_shape, what)
        return storage
    flag = _read_context_and_flag(reader, what)
    return _read_data(reader, shape, flag, what)


def _read_v1_or_legacy(reader: _Reader, magic: int, index: int) -> np.ndarray:
    what = f"array {index}"
    if magic == V1_MAGIC:
        shape = _read_shape(reader, "<I", "q", what)
    else:  # legacy: the u32 already read is ndim, then u32 dims
        if magic > 32:
            raise reader.fail(f"{what}: unknown NDArray record magic 0x{magic:08X}")
        shape = tuple(int(d) for d in reader.unpack(f"<{magic}I", f"{what} shape"))
    if len(shape) == 0:
        return np.empty((0,), dtype=np.float32)
    flag = _read_context_and_flag(reader, what)
    return _read_data(reader, shape, flag, what)


def _read_array(reader: _Reader, index: int) -> np.ndarray | int:
    magic = reader.one("<I", f"array {index} magic")
    if magic in (V2_MAGIC, V3_MAGIC):
        return _read_v2_or_v3(reader, magic, index)
    return _read_v1_or_legacy(reader, magic, index)


def _read_names(reader: _Reader, count: int) -> list[str] | None:
    name_count = reader.one("<Q", "name count")
    if name_count == 0:
        return None
    if name_count != count:
        raise reader.fail(f"{name_count} names for {count} arrays")
    names = []
    for i in range(name_count):
        length = reader.one("<Q", f"name {i} length")
        raw = reader.take(length, f"name {i}")
        try:
            names.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise reader.fail(f"name {i} is not UTF-8") from exc
    return names


def loads_ndarray_list(
    data: bytes, *, source: str | None = None
) -> tuple[list[np.ndarray], list[str] | None]:
    """Parse an NDArray list file: (arrays, names or None for an unnamed list). Dense arrays only."""
    reader = _Reader(bytes(data), source or "<ndarray list>")
    magic, _reserved, count = reader.unpack("<QQQ", "list header")
    if magic != LIST_MAGIC:
        raise ModelArtifactError(
            f"{reader.source}: not an MXNet NDArray list (header 0x{magic:X}, expected 0x{LIST_MAGIC:X})"
        )
    if count > len(reader.data):
        raise reader.fail(f"implausible array count {count}")
    records = [_read_array(reader, i) for i in range(count)]
    names = _read_names(reader, count)
    if reader.offset != len(reader.data):
        raise reader.fail(f"{len(reader.data) - reader.offset} unexpected trailing bytes")
    arrays: list[np.ndarray] = []
    for i, record in enumerate(records):
        if isinstance(record, int):
            label = f"array {i}" + (f" ('{names[i]}')" if names else "")
            raise ModelArtifactError(
                f"{reader.source}: {label} has {_STORAGE_NAMES[record]} storage; only dense is supported"
            )
        arrays.append(record)
    return arrays, names
