"""NDArray list files: SageMaker's exact bytes, every dtype, every record version, and the failures."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from clusterflow.artifacts.ndarray import (
    LIST_MAGIC,
    V1_MAGIC,
    V2_MAGIC,
    V3_MAGIC,
    dumps_ndarray_list,
    loads_ndarray_list,
)
from clusterflow.errors import ModelArtifactError

DTYPE_FLAGS = [
    (np.float32, 0),
    (np.float64, 1),
    (np.float16, 2),
    (np.uint8, 3),
    (np.int32, 4),
    (np.int8, 5),
    (np.int64, 6),
    (np.bool_, 7),
]


def _header(count: int) -> bytes:
    return struct.pack("<QQQ", LIST_MAGIC, 0, count)


def _random_array(dtype: type, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=dtype)


def test_kmeans_10x2_unnamed_list_is_152_bytes_with_sagemakers_layout() -> None:
    centroids = np.arange(20, dtype=np.float32).reshape(10, 2)
    data = dumps_ndarray_list([centroids])
    assert len(data) == 152
    assert data[:24] == _header(1)
    assert struct.unpack("<IiiqqiiI", data[24:64]) == (V2_MAGIC, 0, 2, 10, 2, 1, 0, 0)
    assert data[64:144] == centroids.tobytes()
    assert data[144:] == struct.pack("<Q", 0)


def test_named_list_writes_names_after_the_arrays() -> None:
    data = dumps_ndarray_list([np.ones(3, np.float32), np.zeros((1, 2), np.float32)], ["s", "mean"])
    assert data.endswith(struct.pack("<QQ", 2, 1) + b"s" + struct.pack("<Q", 4) + b"mean")
    arrays, names = loads_ndarray_list(data)
    assert names == ["s", "mean"]
    assert arrays[1].shape == (1, 2)


@pytest.mark.parametrize(("dtype", "flag"), DTYPE_FLAGS)
def test_every_dtype_round_trips_bit_for_bit(dtype: type, flag: int) -> None:
    array = _random_array(dtype, (3, 4, 5), seed=flag)
    data = dumps_ndarray_list([array], ["x"])
    assert struct.unpack("<i", data[24 + 4 + 4 + 4 + 24 + 8 : 24 + 4 + 4 + 4 + 24 + 12])[0] == flag
    (back,), names = loads_ndarray_list(data)
    assert names == ["x"]
    assert back.dtype == np.dtype(dtype)
    assert back.shape == array.shape
    assert back.tobytes() == array.tobytes()
    assert dumps_ndarray_list([back], ["x"]) == data


def test_bfloat16_is_read_as_float32() -> None:
    expected = np.array([1.0, -2.5, 3.140625, 0.0], dtype=np.float32)
    bf16 = (expected.view(np.uint32) >> 16).astype("<u2")
    record = struct.pack("<Iiiqiii", V2_MAGIC, 0, 1, 4, 1, 0, 12) + bf16.tobytes()
    (back,), names = loads_ndarray_list(_header(1) + record + struct.pack("<Q", 0))
    assert names is None
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, expected)


def test_v1_record_is_read() -> None:
    array = _random_array(np.float32, (2, 3))
    record = struct.pack("<IIqqiii", V1_MAGIC, 2, 2, 3, 1, 0, 0) + array.tobytes()
    (back,), _ = loads_ndarray_list(_header(1) + record + struct.pack("<Q", 0))
    assert back.tobytes() == array.tobytes() and back.shape == (2, 3)


def test_v3_record_reads_a_scalar_and_round_trips_0d() -> None:
    record = struct.pack("<Iiiiii", V3_MAGIC, 0, 0, 1, 0, 1) + struct.pack("<d", 2.5)
    (back,), _ = loads_ndarray_list(_header(1) + record + struct.pack("<Q", 0))
    assert back.shape == () and back.dtype == np.float64 and float(back) == 2.5
    scalar = np.array(7, dtype=np.int64)
    (again,), _ = loads_ndarray_list(dumps_ndarray_list([scalar]))
    assert again.shape == () and int(again) == 7


def test_legacy_record_without_magic_is_read() -> None:
    array = _random_array(np.int32, (4, 2))
    record = struct.pack("<IIIiii", 2, 4, 2, 1, 0, 4) + array.tobytes()
    (back,), _ = loads_ndarray_list(_header(1) + record + struct.pack("<Q", 0))
    assert back.tobytes() == array.tobytes() and back.shape == (4, 2)


def test_mixed_versions_in_one_named_list() -> None:
    a = _random_array(np.float64, (3,))
    b = _random_array(np.uint8, (2, 2))
    records = (
        struct.pack("<IIqiii", V1_MAGIC, 1, 3, 1, 0, 1) + a.tobytes(),
        struct.pack("<IIIiii", 2, 2, 2, 1, 0, 3) + b.tobytes(),
    )
    names = struct.pack("<QQ", 2, 1) + b"a" + struct.pack("<Q", 1) + b"b"
    arrays, got_names = loads_ndarray_list(_header(2) + b"".join(records) + names)
    assert got_names == ["a", "b"]
    assert arrays[0].tobytes() == a.tobytes() and arrays[1].tobytes() == b.tobytes()


def test_sparse_storage_is_refused_naming_the_array() -> None:
    dense = dumps_ndarray_list([np.ones(2, np.float32)])[24:-8]
    # csr 2x3 with 2 non-zeros: storage shape (2,), shape (2, 3), ctx, f32, aux types/shapes, data, aux data
    csr = struct.pack("<Iiiqiqqiii", V2_MAGIC, 2, 1, 2, 2, 2, 3, 1, 0, 0)
    csr += struct.pack("<ii", 6, 6) + struct.pack("<iqiq", 1, 3, 1, 2)
    csr += np.array([1, 2], np.float32).tobytes() + np.array([0, 1, 2], np.int64).tobytes()
    csr += np.array([0, 2], np.int64).tobytes()
    names = struct.pack("<QQ", 2, 5) + b"dense" + struct.pack("<Q", 6) + b"sparse"
    with pytest.raises(ModelArtifactError, match=r"array 1 \('sparse'\) has csr storage"):
        loads_ndarray_list(_header(2) + dense + csr + names, source="m.params")


def test_truncated_data_names_the_byte_offset() -> None:
    data = dumps_ndarray_list([np.zeros((10, 2), np.float32)])
    with pytest.raises(ModelArtifactError, match=r"x\.params: truncated NDArray data at byte offset 64") as e:
        loads_ndarray_list(data[:100], source="x.params")
    assert "array 0 data" in str(e.value)
    with pytest.raises(ModelArtifactError, match="byte offset 144"):
        loads_ndarray_list(data[:-8])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not an ndarray list at all", "not an MXNet NDArray list"),
        (_header(1) + struct.pack("<I", 0xDEADBEEF), "unknown NDArray record magic"),
        (_header(1) + struct.pack("<Iiiqiii", V2_MAGIC, 0, 1, 1, 1, 0, 99) + b"\0" * 4, "dtype flag 99"),
        (dumps_ndarray_list([np.ones(1, np.float32)]) + b"\0", "1 unexpected trailing bytes"),
        (dumps_ndarray_list([np.ones(1, np.float32)])[:-8] + struct.pack("<Q", 3), "3 names for 1 arrays"),
    ],
)
def test_malformed_lists_raise_model_artifact_error(data: bytes, message: str) -> None:
    with pytest.raises(ModelArtifactError, match=message):
        loads_ndarray_list(data)


def test_unsupported_dtype_is_refused_on_write() -> None:
    with pytest.raises(ModelArtifactError, match="complex64"):
        dumps_ndarray_list([np.zeros(2, np.complex64)])
