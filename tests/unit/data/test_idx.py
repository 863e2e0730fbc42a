from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from clusterflow.data.idx import iter_idx_chunks, read_idx, write_idx_as_libsvm
from clusterflow.data.mnist import load_mnist_sample
from clusterflow.errors import DataFormatError
from clusterflow.formats.libsvm import read_libsvm


def write_idx(path: Path, array: np.ndarray, code: int, *, compress: bool = False) -> Path:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_mnist_sample()
    return X[:300].reshape(300, 28, 28).astype(np.uint8), y[:300].astype(np.uint8)


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_images_and_labels(tmp_path: Path, digits, compress: bool) -> None:  # type: ignore[no-untyped-def]
    images, labels = digits
    images_path = write_idx(tmp_path / "images", images, 0x08, compress=compress)
    labels_path = write_idx(tmp_path / "labels", labels, 0x08, compress=compress)
    assert np.array_equal(read_idx(images_path), images)
    assert np.array_equal(read_idx(labels_path), labels)


@pytest.mark.parametrize(
    ("code", "dtype"),
    [(0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
def test_read_idx_every_dtype_big_endian(tmp_path: Path, code: int, dtype: type) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 7).astype(dtype)
    assert np.array_equal(read_idx(write_idx(tmp_path / "a", array, code)), array)


def test_chunks_stream_in_pieces(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    images, _ = digits
    path = write_idx(tmp_path / "images", images, 0x08)
    chunks = list(iter_idx_chunks(path, rows_per_chunk=128))
    assert [c.shape for c in chunks] == [(128, 784), (128, 784), (44, 784)]


@pytest.mark.parametrize("limit", [None, 120])
def test_convert_to_libsvm(tmp_path: Path, digits, limit: int | None) -> None:  # type: ignore[no-untyped-def]
    images, labels = digits
    images_path = write_idx(tmp_path / "images.gz", images, 0x08, compress=True)
    labels_path = write_idx(tmp_path / "labels", labels, 0x08)
    rows = write_idx_as_libsvm(images_path, labels_path, tmp_path / "out.libsvm", limit)
    wanted = 300 if limit is None else limit
    assert rows == wanted
    y, X = read_libsvm(tmp_path / "out.libsvm", 784)
    assert np.array_equal(X, images[:wanted].reshape(wanted, 784).astype(np.float32))
    assert np.array_equal(y, labels[:wanted].astype(np.float64))


def test_bad_files_name_the_defect(tmp_path: Path, digits) -> None:  # type: ignore[no-untyped-def]
    images, labels = digits
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataFormatError, match="bad magic") as caught:
        read_idx(bad)
    assert str(bad) in str(caught.value)
    truncated = write_idx(tmp_path / "short", images, 0x08)
    truncated.write_bytes(truncated.read_bytes()[:-100])
    with pytest.raises(DataFormatError, match="truncated: 299 of 300"):
        read_idx(truncated)
    labels_path = write_idx(tmp_path / "labels", labels[:10], 0x08)
    images_path = write_idx(tmp_path / "images", images, 0x08)
    with pytest.raises(DataFormatError, match="300 images but 10 labels"):
        write_idx_as_libsvm(images_path, labels_path, tmp_path / "x.libsvm")
