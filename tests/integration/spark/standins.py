"""Tiny stand-ins for clusterflow.formats (recordio, libsvm) used only while those modules have not landed.

conftest installs them under the real module names when the real modules cannot be imported.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

MAGIC = 0xCED7230A


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _values_entry(values: np.ndarray) -> bytes:
    tensor = _field(1, np.asarray(values, dtype="<f4").tobytes())
    return _field(1, b"values") + _field(2, _field(2, tensor))


def encode_dense_rows(X: np.ndarray, labels: np.ndarray | None) -> Iterator[bytes]:
    for i, row in enumerate(np.asarray(X, dtype=np.float32)):
        record = _field(1, _values_entry(row))
        if labels is not None:
            record += _field(2, _values_entry(np.array([labels[i]])))
        yield record


def write_recordio(dest: BinaryIO, payloads: Iterable[bytes]) -> None:
    for payload in payloads:
        dest.write(struct.pack("<II", MAGIC, len(payload)) + payload + b"\0" * (-len(payload) % 4))


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        length, pos = _read_varint(data, pos)
        yield key >> 3, data[pos : pos + length]
        pos += length


def _entry_values(entry: bytes) -> np.ndarray:
    parts = dict(_fields(entry))
    tensor = dict(_fields(dict(_fields(parts[2]))[2]))
    return np.frombuffer(tensor[1], dtype="<f4")


def iter_recordio_batches(
    source: str | Path | BinaryIO, feature_dim: int, batch_size: int = 1000
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    data = Path(source).read_bytes() if isinstance(source, str | Path) else source.read()
    rows, labels, pos = [], [], 0
    while pos < len(data):
        magic, length = struct.unpack_from("<II", data, pos)
        assert magic == MAGIC
        record = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (-length % 4)
        for number, entry in _fields(record):
            (rows if number == 1 else labels).append(_entry_values(entry))
    X = np.array(rows, dtype=np.float32).reshape(-1, feature_dim)
    yield X, np.array([label[0] for label in labels], dtype=np.float32)


def write_libsvm(dest: str | Path | BinaryIO, labels: np.ndarray, X: np.ndarray) -> None:
    lines = []
    for label, row in zip(labels, X, strict=True):
        pairs = " ".join(f"{j + 1}:{row[j]:.9g}" for j in np.flatnonzero(row))
        lines.append(f"{label:g} {pairs}".rstrip() + "\n")
    payload = "".join(lines).encode()
    if isinstance(dest, str | Path):
        Path(dest).write_bytes(payload)
    else:
        dest.write(payload)
