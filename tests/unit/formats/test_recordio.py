"""RecordIO-protobuf: framing (split records too), the reference bytes, decoding every tensor kind."""

from __future__ import annotations

import contextlib
import io
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from clusterflow.errors import DataFormatError
from clusterflow.formats import _generate_pb2
from clusterflow.formats import aialgs_data_pb2 as pb
from clusterflow.formats.recordio import (
    RECORDIO_MAGIC,
    SparseVector,
    decode_label_records,
    decode_record,
    encode_dense_record,
    encode_dense_rows,
    encode_label_records,
    iter_recordio,
    iter_recordio_batches,
    write_recordio,
    write_recordio_dense,
)

FORMATS_DIR = Path(_generate_pb2.__file__).parent
MAGIC = struct.pack("<I", RECORDIO_MAGIC)


def _pb_dense(features: np.ndarray, label: float | None = None) -> bytes:
    record = pb.Record()
    record.features["values"].float32_tensor.values.extend(features.tolist())
    if label is not None:
        record.label["values"].float32_tensor.values.append(label)
    return record.SerializeToString()


def _dmlc_frames(payload: bytes) -> bytes:
    """What dmlc-core's RecordIOWriter writes: split where the magic appears at a 4-byte boundary."""
    out = b""
    start = 0
    for i in range(0, len(payload) // 4 * 4, 4):
        if payload[i : i + 4] == MAGIC:
            out += MAGIC + struct.pack("<I", (1 if start == 0 else 2) << 29 | (i - start)) + payload[start:i]
            start = i + 4
    tail = payload[start:]
    out += MAGIC + struct.pack("<I", (3 if start else 0) << 29 | len(tail)) + tail
    return out + b"\0" * (-len(tail) % 4)


def test_dense_record_matches_the_reference_bytes() -> None:
    expected = bytes.fromhex("0a160a0676616c756573120c120a0a080000c03f00008041")
    assert encode_dense_record(np.array([1.5, 16.0], np.float32)) == expected
    assert _pb_dense(np.array([1.5, 16.0], np.float32)) == expected


def test_fast_row_encoding_equals_protobuf_encoding() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 37)).astype(np.float32)
    labels = rng.integers(0, 10, 50).astype(np.float32)
    assert list(encode_dense_rows(X, labels)) == [
        _pb_dense(x, float(y)) for x, y in zip(X, labels, strict=True)
    ]
    assert list(encode_dense_rows(X)) == [_pb_dense(x) for x in X]
    assert [encode_dense_record(x, float(y)) for x, y in zip(X, labels, strict=True)] == list(
        encode_dense_rows(X, labels)
    )


def test_framing_pads_to_four_bytes_and_round_trips() -> None:
    payloads = [b"", b"a", b"abcd", b"abcdefg", bytes(range(256)) * 3]
    buffer = io.BytesIO()
    write_recordio(buffer, payloads)
    data = buffer.getvalue()
    assert data[:8] == MAGIC + struct.pack("<I", 0)
    assert data[8:20] == MAGIC + struct.pack("<I", 1) + b"a\0\0\0"
    assert len(data) % 4 == 0
    assert list(iter_recordio(io.BytesIO(data))) == payloads


def test_split_records_are_rejoined_with_their_magic() -> None:
    payloads = [b"ab" + MAGIC + b"cd", MAGIC + b"xyzw" + MAGIC + MAGIC + b"q", b"abcd" + MAGIC, b"plain"]
    data = b"".join(_dmlc_frames(p) for p in payloads)
    assert struct.unpack_from("<I", data, 4)[0] >> 29 == 0  # "ab" + magic is not aligned: not split
    assert any(struct.unpack_from("<I", data, i + 4)[0] >> 29 == 2 for i in range(0, len(data) - 8, 4))
    assert list(iter_recordio(io.BytesIO(data))) == payloads


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            MAGIC + struct.pack("<I", 4) + b"abcd" + b"\xde\xad\xbe\xef" + b"\0" * 4,
            "record 2 at byte offset 12: bad RecordIO magic",
        ),
        (
            MAGIC + struct.pack("<I", 4) + b"abcd" + MAGIC[:3],
            "record 2 at byte offset 12: truncated RecordIO header",
        ),
        (
            MAGIC + struct.pack("<I", 9) + b"abcd",
            "record 1 at byte offset 0: truncated record: header says 9 bytes",
        ),
        (MAGIC + struct.pack("<I", 2 << 29 | 4) + b"abcd", "continuation flag 2 without a starting part"),
        (MAGIC + struct.pack("<I", 1 << 29 | 4) + b"abcd", "split record ends before its last part"),
        (MAGIC + struct.pack("<I", 1 << 29) + MAGIC + struct.pack("<I", 0), "flag 0 inside a split record"),
    ],
)
def test_framing_errors_name_record_and_offset(data: bytes, message: str) -> None:
    with pytest.raises(DataFormatError, match=f"^train\\.pbr: .*{re.escape(message)}"):
        list(iter_recordio(io.BytesIO(data), name="train.pbr"))


def test_decode_record_reads_every_tensor_kind_and_sparse() -> None:
    record = pb.Record()
    record.features["f32"].float32_tensor.values.extend([1.5, -2.0])
    record.features["f64"].float64_tensor.values.extend([1e300, 0.1])
    record.features["i32"].int32_tensor.values.extend([-5, 7, 2**31 - 1])
    sparse = record.features["sparse"].float32_tensor
    sparse.values.extend([3.0, 4.0])
    sparse.keys.extend([1, 300])
    sparse.shape.append(1000)
    record.features["matrix"].float32_tensor.values.extend([1, 2, 3, 4, 5, 6])
    record.features["matrix"].float32_tensor.shape.extend([2, 3])
    record.label["values"].float32_tensor.values.append(7.0)
    record.uid = "row-1"
    features, labels = decode_record(record.SerializeToString())
    assert features["f32"].dtype == np.float32 and features["f32"].tolist() == [1.5, -2.0]
    assert features["f64"].dtype == np.float64 and features["f64"].tolist() == [1e300, 0.1]
    assert features["i32"].dtype == np.int32 and features["i32"].tolist() == [-5, 7, 2**31 - 1]
    assert isinstance(features["sparse"], SparseVector)
    assert features["sparse"].keys.tolist() == [1, 300] and features["sparse"].shape == (1000,)
    assert features["sparse"].to_dense()[[1, 300]].tolist() == [3.0, 4.0]
    assert isinstance(features["matrix"], np.ndarray) and features["matrix"].shape == (2, 3)
    assert labels["values"].tolist() == [7.0]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x0a\x05abc", "runs past the end"),
        (b"\x0f", "unsupported wire type 7"),
        (b"\x0a\x80", "truncated varint"),
    ],
)
def test_malformed_protobuf_is_a_data_format_error(payload: bytes, message: str) -> None:
    with pytest.raises(DataFormatError, match=message):
        decode_record(payload)


def test_bytes_values_are_refused() -> None:
    record = pb.Record()
    record.features["values"].bytes.value.append(b"jpeg")
    with pytest.raises(DataFormatError, match="Bytes values are not supported"):
        decode_record(record.SerializeToString())


def test_dense_batches_are_bit_exact_with_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((25, 13)).astype(np.float32)
    labels = rng.integers(0, 3, 25).astype(np.float32)
    write_recordio_dense(tmp_path / "train.pbr", X, labels)
    batches = list(iter_recordio_batches(tmp_path / "train.pbr", 13, batch_rows=10))
    assert [len(x) for _, x in batches] == [10, 10, 5]
    got_X = np.concatenate([x for _, x in batches])
    got_labels = np.concatenate([y for y, _ in batches if y is not None])
    assert np.array_equal(got_X.view(np.uint32), X.view(np.uint32))
    assert np.array_equal(got_labels, labels)
    payloads = list(iter_recordio(tmp_path / "train.pbr"))
    assert payloads == [_pb_dense(x, float(y)) for x, y in zip(X, labels, strict=True)]


def test_unlabelled_batches_give_none() -> None:
    buffer = io.BytesIO()
    write_recordio_dense(buffer, np.ones((3, 2), np.float32))
    ((labels, X),) = list(iter_recordio_batches(io.BytesIO(buffer.getvalue()), 2))
    assert labels is None and X.tolist() == [[1, 1]] * 3


def test_batches_accept_sparse_float64_and_int32_records() -> None:
    sparse = pb.Record()
    sparse.features["values"].float32_tensor.values.extend([5.0])
    sparse.features["values"].float32_tensor.keys.append(2)
    sparse.features["values"].float32_tensor.shape.append(4)
    doubles = pb.Record()
    doubles.features["values"].float64_tensor.values.extend([1.0, 2.0, 3.0, 4.0])
    doubles.label["values"].float64_tensor.values.append(9.0)
    ints = pb.Record()
    ints.features["values"].int32_tensor.values.extend([0, -1, 0, 1])
    buffer = io.BytesIO()
    write_recordio(buffer, [r.SerializeToString() for r in (sparse, doubles, ints)])
    ((labels, X),) = list(iter_recordio_batches(io.BytesIO(buffer.getvalue()), 4))
    assert X.tolist() == [[0, 0, 5, 0], [1, 2, 3, 4], [0, -1, 0, 1]]
    assert labels is not None and np.isnan(labels[0]) and labels[1] == 9.0


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_pb_dense(np.ones(3, np.float32)), "record 2: 3 features, expected feature_dim 4"),
        (pb.Record(uid="x").SerializeToString(), "record 2: no features['values']"),
    ],
)
def test_wrong_records_are_named(record: bytes, message: str) -> None:
    buffer = io.BytesIO()
    write_recordio(buffer, [_pb_dense(np.ones(4, np.float32)), record])
    with pytest.raises(DataFormatError, match=re.escape(message)):
        list(iter_recordio_batches(io.BytesIO(buffer.getvalue()), 4, name="train.pbr"))


def test_sparse_key_outside_feature_dim_is_refused() -> None:
    record = pb.Record()
    record.features["values"].float32_tensor.values.append(1.0)
    record.features["values"].float32_tensor.keys.append(9)
    buffer = io.BytesIO()
    write_recordio(buffer, [record.SerializeToString()])
    with pytest.raises(DataFormatError, match="record 1: sparse key 9 >= feature_dim 4"):
        list(iter_recordio_batches(io.BytesIO(buffer.getvalue()), 4))


def test_label_records_round_trip_and_match_protobuf() -> None:
    projection = np.arange(6, dtype=np.float32).reshape(3, 2) / 3
    body = encode_label_records({"projection": projection})
    decoded = decode_label_records(body)
    assert len(decoded) == 3
    for row, labels in zip(projection, decoded, strict=True):
        assert labels["projection"].tobytes() == row.tobytes()
    body = encode_label_records(
        {"distance_to_cluster": np.array([0.5, 2.0]), "closest_cluster": np.array([4, 1])}
    )
    payloads = list(iter_recordio(io.BytesIO(body)))
    message = pb.Record.FromString(payloads[0])
    assert list(message.label["closest_cluster"].float32_tensor.values) == [4.0]
    assert list(message.label["distance_to_cluster"].float32_tensor.values) == [0.5]
    assert not message.features
    assert decode_label_records(body)[1]["closest_cluster"].tolist() == [1.0]


Field = tuple[str, int, str, bool, bool]


def _proto_fields(text: str) -> dict[str, set[Field]]:
    """message -> {(field, number, declared type, repeated, packed)} read straight from the .proto text."""
    messages: dict[str, set[Field]] = {}
    pattern = r"^\s*(repeated |optional )?([\w<>, ]+?) (\w+) = (\d+)( \[packed = true\])?;"
    for name, body in re.findall(r"message (\w+) \{(.*?)\n\}", text, re.S):
        messages[name] = {
            (field, int(number), kind, label == "repeated " or kind.startswith("map<"), bool(packed))
            for label, kind, field, number, packed in re.findall(pattern, body, re.M)
        }
    return messages


_TYPE_NAMES = {1: "double", 2: "float", 4: "uint64", 5: "int32", 9: "string", 12: "bytes"}


def _descriptor_fields(descriptor: object) -> set[Field]:
    fields = set()
    for field in descriptor.fields:  # type: ignore[attr-defined]
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields
            kind = f"map<{_TYPE_NAMES[key.type]}, {value.message_type.name}>"
        elif field.message_type is not None:
            kind = field.message_type.name
        else:
            kind = _TYPE_NAMES[field.type]
        packed = field.GetOptions().packed if field.GetOptions().HasField("packed") else False
        fields.add((field.name, field.number, kind, field.is_repeated, packed))
    return fields


def test_pb2_module_matches_the_proto_file() -> None:
    expected = _proto_fields((FORMATS_DIR / "aialgs_data.proto").read_text())
    assert set(expected) == {"Float32Tensor", "Float64Tensor", "Int32Tensor", "Bytes", "Value", "Record"}
    assert pb.DESCRIPTOR.package == "aialgs.data"
    for name, fields in expected.items():
        assert fields, name
        assert _descriptor_fields(pb.DESCRIPTOR.message_types_by_name[name]) == fields, name
    value = pb.DESCRIPTOR.message_types_by_name["Value"]
    assert [f.name for f in value.oneofs_by_name["value"].fields] == [
        "float32_tensor",
        "float64_tensor",
        "int32_tensor",
        "bytes",
    ]


def test_committed_pb2_is_what_the_generator_writes() -> None:
    generated = _generate_pb2.render_module(_generate_pb2.build_file_descriptor())
    assert (FORMATS_DIR / "aialgs_data_pb2.py").read_text() == generated


def test_non_finite_features_are_refused_naming_the_record() -> None:
    X = np.ones((7, 3), np.float32)
    X[5, 1] = np.nan
    buffer = io.BytesIO()
    write_recordio_dense(buffer, X)
    with pytest.raises(DataFormatError, match=r"train\.pbr: record 6: NaN/inf feature value"):
        list(iter_recordio_batches(io.BytesIO(buffer.getvalue()), 3, batch_rows=4, name="train.pbr"))
    huge = pb.Record()
    huge.features["values"].float64_tensor.values.extend([1e300, 0.0, 0.0])
    buffer = io.BytesIO()
    write_recordio(buffer, [huge.SerializeToString()])
    with pytest.raises(DataFormatError, match="record 1: NaN/inf"):
        list(iter_recordio_batches(io.BytesIO(buffer.getvalue()), 3))


def test_corrupted_records_only_ever_raise_data_format_error() -> None:
    sparse = pb.Record()
    sparse.features["values"].float32_tensor.values.extend([1.0, 2.0])
    sparse.features["values"].float32_tensor.keys.extend([0, 3])
    sparse.features["values"].float32_tensor.shape.append(4)
    sparse.label["values"].float32_tensor.values.append(2.0)
    sparse.label["values"].float32_tensor.keys.append(0)
    doubles = pb.Record()
    doubles.features["values"].float64_tensor.values.extend([1, 2, 3, 4])
    ints = pb.Record()
    ints.features["values"].int32_tensor.values.extend([1, -2, 3, 4])
    originals = [_pb_dense(np.arange(4, dtype=np.float32), 1.0)] + [
        r.SerializeToString() for r in (sparse, doubles, ints)
    ]
    rng = np.random.default_rng(11)
    for trial in range(1500):
        payload = bytearray(originals[trial % len(originals)])
        for _ in range(rng.integers(1, 4)):
            payload[rng.integers(0, len(payload))] = rng.integers(0, 256)
        framed = io.BytesIO()
        write_recordio(framed, [bytes(payload)])
        with contextlib.suppress(DataFormatError):
            decode_record(bytes(payload))
        with contextlib.suppress(DataFormatError):
            list(iter_recordio_batches(io.BytesIO(framed.getvalue()), 4))
