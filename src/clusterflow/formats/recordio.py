"""RecordIO-protobuf (REFERENCE section 5): dmlc RecordIO framing around `aialgs.data.Record` messages.

Reading decodes the protobuf wire format directly (packed floats via np.frombuffer), which is what makes
training input fast; `aialgs_data_pb2` is the reference the tests compare against.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from clusterflow.errors import DataFormatError
from clusterflow.formats._streams import open_binary, open_output, source_name

RECORDIO_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", RECORDIO_MAGIC)
_LENGTH_MASK = (1 << 29) - 1
_READ_BYTES = 1 << 20
_WRITE_ROWS = 4096
# Value oneof field numbers and the dtype of their packed values.
_TENSOR_DTYPES: dict[int, np.dtype] = {2: np.dtype("<f4"), 3: np.dtype("<f8"), 7: np.dtype("<i4")}
_BYTES_FIELD = 9
_FEATURES, _LABEL = 1, 2
VALUES_KEY = "values"


@dataclass(frozen=True)
class SparseVector:
    """A sparse tensor: `values[i]` sits at flat position `keys[i]` of a tensor of `shape`."""

    keys: np.ndarray
    values: np.ndarray
    shape: tuple[int, ...]

    def to_dense(self) -> np.ndarray:
        size = int(np.prod(self.shape)) if self.shape else (int(self.keys.max()) + 1 if len(self.keys) else 0)
        dense = np.zeros(size, dtype=self.values.dtype)
        dense[self.keys.astype(np.int64)] = self.values
        return dense.reshape(self.shape) if self.shape else dense


class _WireError(Exception):
    """Malformed protobuf bytes; turned into a DataFormatError naming the record."""


# ---- framing ----


def _frame(payload: bytes) -> bytes:
    if len(payload) > _LENGTH_MASK:
        raise DataFormatError(f"record of {len(payload)} bytes is over RecordIO's limit of 2^29 - 1 bytes")
    padding = -len(payload) % 4
    return struct.pack("<II", RECORDIO_MAGIC, len(payload)) + payload + b"\0" * padding


def write_recordio(dest: BinaryIO, payloads: Iterable[bytes]) -> None:
    """Frame each payload as one whole record (cflag 0), as the SageMaker SDK does; never splits."""
    for payload in payloads:
        dest.write(_frame(payload))


class _FrameReader:
    """Reads frames from a stream in large chunks, tracking the record number and byte offset."""

    def __init__(self, stream: BinaryIO, name: str) -> None:
        self._stream = stream
        self._name = name
        self._buffer = b""
        self._pos = 0
        self._consumed = 0
        self.record = 0

    def _available(self, size: int) -> bool:
        while len(self._buffer) - self._pos < size:
            chunk = self._stream.read(max(_READ_BYTES, size))
            if not chunk:
                return False
            self._consumed += self._pos
            self._buffer = self._buffer[self._pos :] + chunk
            self._pos = 0
        return True

    def _fail(self, offset: int, defect: str) -> DataFormatError:
        return DataFormatError(f"record {self.record} at byte offset {offset}: {defect}", source=self._name)

    def next_part(self) -> tuple[int, bytes, int] | None:
        """(cflag, data, offset of the frame) or None at a clean end of the stream."""
        offset = self._consumed + self._pos
        if not self._available(1):
            return None
        if not self._available(8):
            raise self._fail(offset, "truncated RecordIO header")
        magic, word = struct.unpack_from("<II", self._buffer, self._pos)
        if magic != RECORDIO_MAGIC:
            raise self._fail(offset, f"bad RecordIO magic 0x{magic:08X} (expected 0x{RECORDIO_MAGIC:08X})")
        length, cflag = word & _LENGTH_MASK, word >> 29
        padded = length + (-length % 4)
        if not self._available(8 + padded):
            raise self._fail(offset, f"truncated record: header says {length} bytes")
        start = self._pos + 8
        self._pos = start + padded
        return cflag, self._buffer[start : start + length], offset


def _iter_frames(reader: _FrameReader) -> Iterator[bytes]:
    while True:
        reader.record += 1
        part = reader.next_part()
        if part is None:
            return
        cflag, data, offset = part
        if cflag == 0:
            yield data
            continue
        if cflag != 1:
            raise reader._fail(offset, f"continuation flag {cflag} without a starting part (flag 1)")
        pieces = [data]
        while cflag != 3:
            part = reader.next_part()
            if part is None:
                raise reader._fail(offset, "split record ends before its last part (flag 3)")
            cflag, data, part_offset = part
            if cflag not in (2, 3):
                raise reader._fail(part_offset, f"flag {cflag} inside a split record (expected 2 or 3)")
            pieces.append(data)
        yield _MAGIC_BYTES.join(pieces)


def iter_recordio(source: str | Path | BinaryIO, *, name: str | None = None) -> Iterator[bytes]:
    """Yield each record's payload, rejoining records split at an embedded magic (cflag 1/2/3)."""
    label = source_name(source, name)
    with open_binary(source, label) as stream:
        yield from _iter_frames(_FrameReader(stream, label))


def _iter_numbered(source: str | Path | BinaryIO, name: str | None) -> Iterator[tuple[int, bytes, str]]:
    label = source_name(source, name)
    with open_binary(source, label) as stream:
        reader = _FrameReader(stream, label)
        for payload in _iter_frames(reader):
            yield reader.record, payload, label


# ---- protobuf wire decoding ----


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise _WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _WireError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field; length-delimited and fixed values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
            continue
        if wire == 2:
            size, pos = _varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise _WireError(f"unsupported wire type {wire} for field {number}")
        if pos + size > len(buf):
            raise _WireError(f"field {number} runs past the end of the message")
        yield number, wire, buf[pos : pos + size]
        pos += size


def _packed_varints(data: bytes) -> np.ndarray:
    raw = np.frombuffer(data, np.uint8)
    if not len(raw):
        return np.zeros(0, np.uint64)
    if raw[-1] >= 0x80:
        raise _WireError("truncated packed varints")
    ends = np.flatnonzero(raw < 0x80)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise _WireError("varint longer than 10 bytes")
    position = np.arange(len(raw)) - np.repeat(starts, lengths)
    parts = (raw & 0x7F).astype(np.uint64) << (7 * position).astype(np.uint64)
    return np.bitwise_or.reduceat(parts, starts)


def _tensor_values(kind: int, wire: int, data: int | bytes, chunks: list[np.ndarray]) -> None:
    dtype = _TENSOR_DTYPES[kind]
    if dtype.kind == "i":
        if wire == 2:
            assert isinstance(data, bytes)
            chunks.append(_packed_varints(data).view(np.int64).astype(np.int32))
        elif wire == 0:
            assert isinstance(data, int)
            chunks.append(np.array([data], np.uint64).view(np.int64).astype(np.int32))
        else:
            raise _WireError(f"wire type {wire} for int32 values")
        return
    if not isinstance(data, bytes) or len(data) % dtype.itemsize:
        raise _WireError(f"packed {dtype.name} values of {len(data) if isinstance(data, bytes) else 0} bytes")
    chunks.append(np.frombuffer(data, dtype).astype(dtype.newbyteorder("=")))


def _tensor(kind: int, data: bytes) -> np.ndarray | SparseVector:
    values: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    shape: list[np.ndarray] = []
    for number, wire, value in _fields(data):
        if number == 1:
            _tensor_values(kind, wire, value, values)
        elif number in (2, 3):
            target = keys if number == 2 else shape
            if wire == 2:
                assert isinstance(value, bytes)
                target.append(_packed_varints(value))
            elif wire == 0:
                assert isinstance(value, int)
                target.append(np.array([value], np.uint64))
            else:
                raise _WireError(f"wire type {wire} for tensor field {number}")
    dtype = _TENSOR_DTYPES[kind].newbyteorder("=")
    flat = np.concatenate(values) if values else np.zeros(0, dtype)
    dims = tuple(int(d) for d in np.concatenate(shape)) if shape else ()
    if keys:
        key_array = np.concatenate(keys)
        if len(key_array) != len(flat):
            raise _WireError(f"sparse tensor with {len(key_array)} keys but {len(flat)} values")
        return SparseVector(keys=key_array, values=flat, shape=dims)
    if dims and int(np.prod(dims)) == len(flat):
        return flat.reshape(dims)
    return flat


def _value(data: bytes) -> np.ndarray | SparseVector:
    result: np.ndarray | SparseVector | None = None
    for number, wire, value in _fields(data):
        if number in _TENSOR_DTYPES and wire == 2:
            assert isinstance(value, bytes)
            result = _tensor(number, value)
        elif number == _BYTES_FIELD:
            raise _WireError("Bytes values are not supported (expected a Float32/Float64/Int32 tensor)")
    if result is None:
        raise _WireError("Value holds no tensor")
    return result


def _map_entry(data: bytes) -> tuple[str, np.ndarray | SparseVector]:
    key = ""
    value: np.ndarray | SparseVector | None = None
    for number, _wire, field in _fields(data):
        if number == 1 and isinstance(field, bytes):
            try:
                key = field.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _WireError("map key is not UTF-8") from exc
        elif number == 2 and isinstance(field, bytes):
            value = _value(field)
    if value is None:
        raise _WireError(f"map entry '{key}' has no value")
    return key, value


def _decode(
    payload: bytes,
) -> tuple[dict[str, np.ndarray | SparseVector], dict[str, np.ndarray | SparseVector]]:
    features: dict[str, np.ndarray | SparseVector] = {}
    labels: dict[str, np.ndarray | SparseVector] = {}
    for number, wire, field in _fields(payload):
        if number in (_FEATURES, _LABEL):
            if wire != 2 or not isinstance(field, bytes):
                raise _WireError(f"field {number} of Record is not a map entry")
            key, value = _map_entry(field)
            (features if number == _FEATURES else labels)[key] = value
    return features, labels


def _dense_label(value: np.ndarray | SparseVector) -> np.ndarray:
    if not isinstance(value, SparseVector):
        return value
    size = int(np.prod(value.shape)) if value.shape else None
    if size is not None and len(value.keys) and int(value.keys.max()) >= size:
        raise _WireError(f"sparse key {int(value.keys.max())} outside shape {value.shape}")
    return value.to_dense()


def decode_record(payload: bytes) -> tuple[dict[str, np.ndarray | SparseVector], dict[str, np.ndarray]]:
    """A Record's features and labels by key (sparse features as SparseVector, labels dense)."""
    try:
        features, labels = _decode(payload)
        return features, {key: _dense_label(value) for key, value in labels.items()}
    except _WireError as exc:
        raise DataFormatError(f"not a valid aialgs.data.Record: {exc}") from exc


# ---- encoding ----


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(tag: int, data: bytes) -> bytes:
    return bytes([tag]) + _varint_bytes(len(data)) + data


def _float32_entry(key: str, values: np.ndarray) -> bytes:
    """A map entry `key -> Value{float32_tensor{values}}` (dense)."""
    packed = np.ascontiguousarray(values, dtype="<f4").tobytes()
    tensor = _length_delimited(0x0A, packed) if packed else b""
    value = _length_delimited(0x12, tensor)
    return _length_delimited(0x0A, key.encode("utf-8")) + _length_delimited(0x12, value)


def encode_dense_record(features: np.ndarray, label: float | None = None) -> bytes:
    """Record{features["values"]: Float32Tensor(features), label["values"]: Float32Tensor([label])}."""
    record = _length_delimited(0x0A, _float32_entry(VALUES_KEY, np.ravel(features)))
    if label is not None:
        record += _length_delimited(0x12, _float32_entry(VALUES_KEY, np.array([label], np.float32)))
    return record


def _dense_skeleton(width: int, with_label: bool) -> tuple[bytes, bytes]:
    """(bytes before the packed features, bytes between them and the label's float) of a dense record."""
    unlabelled = encode_dense_record(np.zeros(width, np.float32))
    prefix = unlabelled[: len(unlabelled) - 4 * width]
    if not with_label:
        return prefix, b""
    return prefix, encode_dense_record(np.zeros(width, np.float32), 0.0)[len(unlabelled) : -4]


def _dense_payloads(X: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """(n, payload length) uint8 array: every row's payload has the same layout, so fill it column-wise."""
    rows, width = X.shape
    if width == 0:
        encoded = [
            encode_dense_record(X[i], None if labels is None else float(labels[i])) for i in range(rows)
        ]
        return np.frombuffer(b"".join(encoded), np.uint8).reshape(rows, -1)
    prefix, middle = _dense_skeleton(width, labels is not None)
    feature_bytes = 4 * width
    length = len(prefix) + feature_bytes + len(middle) + (4 if labels is not None else 0)
    out = np.empty((rows, length), np.uint8)
    out[:, : len(prefix)] = np.frombuffer(prefix, np.uint8)
    at = len(prefix)
    out[:, at : at + feature_bytes] = np.ascontiguousarray(X, dtype="<f4").view(np.uint8).reshape(rows, -1)
    at += feature_bytes
    out[:, at : at + len(middle)] = np.frombuffer(middle, np.uint8)
    if labels is not None:
        out[:, at + len(middle) :] = np.ascontiguousarray(labels, dtype="<f4").view(np.uint8).reshape(rows, 4)
    return out


def _check_rows(X: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features), got shape {X.shape}")
    if labels is None:
        return X, None
    flat = np.asarray(labels).reshape(-1)
    if len(flat) != X.shape[0]:
        raise ValueError(f"{len(flat)} labels for {X.shape[0]} rows")
    return X, flat


def encode_dense_rows(X: np.ndarray, labels: np.ndarray | None = None) -> Iterator[bytes]:
    """encode_dense_record for each row, built with array operations rather than one message per row."""
    X, flat = _check_rows(X, labels)
    for start in range(0, X.shape[0], _WRITE_ROWS):
        block = _dense_payloads(
            X[start : start + _WRITE_ROWS], None if flat is None else flat[start : start + _WRITE_ROWS]
        )
        for row in block:
            yield row.tobytes()


def _framed_block(payloads: np.ndarray) -> bytes:
    rows, length = payloads.shape
    padding = -length % 4
    framed = np.zeros((rows, 8 + length + padding), np.uint8)
    framed[:, :8] = np.frombuffer(struct.pack("<II", RECORDIO_MAGIC, length), np.uint8)
    framed[:, 8 : 8 + length] = payloads
    return framed.tobytes()


def write_recordio_dense(
    dest: str | Path | BinaryIO, X: np.ndarray, labels: np.ndarray | None = None
) -> None:
    """Write rows as framed dense Records, the way the SageMaker SDK's write_numpy_to_dense_tensor does."""
    X, flat = _check_rows(X, labels)
    if X.shape[1] and len(_dense_skeleton(X.shape[1], flat is not None)[0]) + 4 * X.shape[1] > _LENGTH_MASK:
        raise DataFormatError(f"rows of {X.shape[1]} features are over RecordIO's record size limit")
    with open_output(dest) as handle:
        _write_dense(handle, X, flat)


def _write_dense(handle: BinaryIO, X: np.ndarray, labels: np.ndarray | None) -> None:
    for start in range(0, X.shape[0], _WRITE_ROWS):
        block_labels = None if labels is None else labels[start : start + _WRITE_ROWS]
        handle.write(_framed_block(_dense_payloads(X[start : start + _WRITE_ROWS], block_labels)))


def encode_label_records(labels: Mapping[str, np.ndarray]) -> bytes:
    """One framed Record per row whose `label` map holds each key as a Float32Tensor (keys sorted)."""
    arrays = {key: np.asarray(value, dtype=np.float32) for key, value in labels.items()}
    counts = {len(value) for value in arrays.values()}
    if len(counts) > 1:
        raise ValueError(
            f"label arrays have different row counts: { {k: len(v) for k, v in arrays.items()} }"
        )
    rows = counts.pop() if counts else 0
    out = io.BytesIO()
    for i in range(rows):
        entries = b"".join(
            _length_delimited(0x12, _float32_entry(key, np.ravel(arrays[key][i]))) for key in sorted(arrays)
        )
        out.write(_frame(entries))
    return out.getvalue()


def decode_label_records(data: bytes) -> list[dict[str, np.ndarray]]:
    """The `label` map of every record in a RecordIO body."""
    return [decode_record(payload)[1] for payload in iter_recordio(io.BytesIO(data), name="<recordio body>")]


# ---- training input ----

# What follows the features entry of an SDK-written record with a scalar label, up to the label's float.
_LABEL_PREFIX = _dense_skeleton(1, True)[1]


def _fast_dense_offsets(payload: bytes) -> tuple[int, int, int] | None:
    """(offset, count) of the packed float32 features and offset of a 1-value float32 label (-1 if none), for
    records laid out as the SDK writes them; None sends the record through the general decoder."""
    try:
        if payload[0] != 0x0A:
            return None
        entry_len, pos = _varint(payload, 1)
        entry_end = pos + entry_len
        if payload[pos : pos + 8] != b"\x0a\x06values" or payload[pos + 8] != 0x12:
            return None
        _value_len, pos = _varint(payload, pos + 9)
        if payload[pos] != 0x12:
            return None
        tensor_len, pos = _varint(payload, pos + 1)
        if tensor_len == 0 or payload[pos] != 0x0A:
            return None
        packed_len, pos = _varint(payload, pos + 1)
        if pos + packed_len != entry_end or packed_len % 4:
            return None
        if entry_end == len(payload):
            return pos, packed_len // 4, -1
        if len(payload) - entry_end == len(_LABEL_PREFIX) + 4 and payload.startswith(
            _LABEL_PREFIX, entry_end
        ):
            return pos, packed_len // 4, entry_end + len(_LABEL_PREFIX)
    except (IndexError, _WireError):
        return None
    return None


def _general_row(payload: bytes, feature_dim: int) -> tuple[np.ndarray, float | None]:
    features, labels = _decode(payload)
    if VALUES_KEY not in features:
        raise _WireError(f"no features['{VALUES_KEY}'] (keys: {sorted(features)})")
    value = features[VALUES_KEY]
    if isinstance(value, SparseVector):
        if value.shape and int(np.prod(value.shape)) != feature_dim:
            raise _WireError(f"sparse features of shape {value.shape}, expected {feature_dim} features")
        if len(value.keys) and int(value.keys.max()) >= feature_dim:
            raise _WireError(f"sparse key {int(value.keys.max())} >= feature_dim {feature_dim}")
        row = np.zeros(feature_dim, np.float32)
        with np.errstate(over="ignore"):
            row[value.keys.astype(np.int64)] = value.values
    else:
        if value.size != feature_dim:
            raise _WireError(f"{value.size} features, expected feature_dim {feature_dim}")
        with np.errstate(over="ignore"):
            row = value.reshape(-1).astype(np.float32)
    label = labels.get(VALUES_KEY)
    if label is None:
        return row, None
    dense = _dense_label(label).reshape(-1)
    if dense.size != 1:
        raise _WireError(f"label['{VALUES_KEY}'] has {dense.size} values, expected 1")
    return row, float(dense[0])


def iter_recordio_batches(
    source: str | Path | BinaryIO, feature_dim: int, *, batch_rows: int = 8192, name: str | None = None
) -> Iterator[tuple[np.ndarray | None, np.ndarray]]:
    """`(labels float64 or None, X float32 (b, feature_dim))` from features["values"] of each record.

    Labels come from label["values"]; a batch where no record has one gives None, and a record without a
    label among labelled ones gets NaN.
    """
    if feature_dim <= 0 or batch_rows <= 0:
        raise ValueError(f"feature_dim and batch_rows must be > 0, got {feature_dim}, {batch_rows}")
    X = np.empty((batch_rows, feature_dim), np.float32)
    labels = np.full(batch_rows, np.nan)
    filled = 0
    labelled = False
    for record, payload, label in _iter_numbered(source, name):
        if filled == batch_rows:
            _check_finite(X, record - batch_rows, label)
            yield (labels.copy() if labelled else None), X.copy()
            labels.fill(np.nan)
            filled = 0
            labelled = False
        fast = _fast_dense_offsets(payload)
        if fast is not None and fast[1] == feature_dim:
            offset, _count, label_at = fast
            X[filled] = np.frombuffer(payload, "<f4", count=feature_dim, offset=offset)
            if label_at >= 0:
                labels[filled] = struct.unpack_from("<f", payload, label_at)[0]
                labelled = True
        else:
            try:
                X[filled], value = _general_row(payload, feature_dim)
            except _WireError as exc:
                raise DataFormatError(f"record {record}: {exc}", source=label) from exc
            if value is not None:
                labels[filled] = value
                labelled = True
        filled += 1
    if filled:
        _check_finite(X[:filled], record - filled + 1, label)
        yield (labels[:filled].copy() if labelled else None), X[:filled].copy()


def _check_finite(X: np.ndarray, first_record: int, source: str) -> None:
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        record = first_record + int(np.argmin(finite))
        raise DataFormatError(
            f"record {record}: NaN/inf feature value (or one outside float32)", source=source
        )
