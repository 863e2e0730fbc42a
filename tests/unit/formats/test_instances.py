"""Request bodies and CSV channels: each accepted shape; each refusal a RequestError, clearly worded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from clusterflow.errors import DataFormatError, RequestError
from clusterflow.formats import instances
from clusterflow.formats.instances import iter_csv_batches, parse_content_type, parse_instances, write_csv
from clusterflow.formats.recordio import write_recordio_dense

ROWS = np.array([[1.0, 2.5, -3.0], [0.0, 1e-3, 7.0]], np.float32)


def _json(instances_: list[object]) -> bytes:
    return json.dumps({"instances": instances_}).encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/csv", ("text/csv", {})),
        ("Text/CSV; label_size=0", ("text/csv", {"label_size": "0"})),
        ('application/json; charset="utf-8"', ("application/json", {"charset": "utf-8"})),
        (None, ("application/json", {})),
        ("  ", ("application/json", {})),
    ],
)
def test_parse_content_type(value: str | None, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_content_type(value, default="application/json") == expected


def test_parse_content_type_default_is_empty() -> None:
    assert parse_content_type(None) == ("", {})


def _recordio_body(X: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    write_recordio_dense(buffer, X)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"1,2.5,-3\n0,0.001,7\n", "text/csv"),
        (b"1, 2.5 ,-3\r\n0,1e-3,7", "text/csv;label_size=0"),
        (_json([{"features": [1, 2.5, -3]}, {"features": [0, 0.001, 7]}]), "application/json"),
        (
            _json([{"data": {"features": {"values": [1, 2.5, -3]}}}, {"features": [0, 0.001, 7]}]),
            "application/json; charset=utf-8",
        ),
        (
            _json(
                [
                    {"data": {"features": {"keys": [0, 1, 2], "values": [1, 2.5, -3], "shape": [3]}}},
                    {"data": {"features": {"keys": [1, 2], "values": [0.001, 7]}}},
                ]
            ),
            "application/json",
        ),
        (
            b'{"features": [1, 2.5, -3]}\n\n{"data": {"features": {"values": [0, 0.001, 7]}}}\n',
            "application/jsonlines",
        ),
        (_recordio_body(ROWS), "application/x-recordio-protobuf"),
    ],
)
def test_every_content_type_and_shape_parses(body: bytes, content_type: str) -> None:
    X = parse_instances(body, content_type, 3)
    assert X.dtype == np.float32 and X.shape == (2, 3)
    assert np.array_equal(X, ROWS)


REFUSALS = [
    (b"1,2\n", "text/csv", "line 1: 2 values, expected 3"),
    (b"1,2,3\n4,5\n", "text/csv", "line 2: 2 values, expected 3"),
    (b"a,b,c\n1,2,3\n", "text/csv", "non-numeric value 'a' in column 1 (a header line?"),
    (b"1,,3\n", "text/csv", "line 1: empty field in column 2"),
    (b"1,2,3,\n", "text/csv", "empty field in column 4"),
    (b"1;2;3\n", "text/csv", "non-numeric value '1;2;3'"),
    (b"1,nan,3\n", "text/csv", "NaN/inf value 'nan' in column 2"),
    (b"1,2,1e40\n", "text/csv", "outside the float32 range"),
    (b"\xff\xfe1,2,3", "text/csv", "not UTF-8"),
    (b"{", "application/json", "invalid JSON body"),
    (b"[1, 2, 3]", "application/json", 'must be {"instances": [...]}'),
    (_json([]), "application/json", "no instances"),
    (_json([{"features": [1, 2]}]), "application/json", "instance 0: 2 features, expected feature_dim 3"),
    (
        _json([{"features": [1, 2, 3]}, {"features": [1, "2", 3]}]),
        "application/json",
        'instance 1: expected a number, got "2"',
    ),
    (_json([{"features": [1, True, 3]}]), "application/json", "expected a number, got true"),
    (_json([{"features": [1, 1e300, 3]}]), "application/json", "not a finite float32"),
    (_json([{"vector": [1, 2, 3]}]), "application/json", "instance 0: expected {'features'"),
    (_json([[1, 2, 3]]), "application/json", "instance 0: expected an object"),
    (_json([{"data": {"features": {"keys": [3], "values": [1]}}}]), "application/json", "sparse key 3"),
    (
        _json([{"data": {"features": {"keys": [0], "values": [1], "shape": [4]}}}]),
        "application/json",
        "shape [4]",
    ),
    (_json([{"data": {"features": {"keys": [0, 1], "values": [1]}}}]), "application/json", "same length"),
    (b'{"features":[1,2,3]}\n{"features":[1]}\n', "application/jsonlines", "line 2: 1 features"),
    (b'{"features":[1,2,3]}\nnot json\n', "application/jsonlines", "line 2: invalid JSON"),
    (b"\n\n", "application/jsonlines", "empty request body"),
    (b"\x00\x01\x02", "application/x-recordio-protobuf", "truncated RecordIO header"),
    (_recordio_body(np.ones((1, 2), np.float32)), "application/x-recordio-protobuf", "2 features, expected"),
    (b"", "text/csv", "empty request body"),
    (b"[" * 100_000, "application/json", "invalid JSON body"),
]


@pytest.mark.parametrize(("body", "content_type", "message"), REFUSALS)
def test_malformed_bodies_are_400_with_a_clear_message(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_instances(body, content_type, 3)
    assert caught.value.status == 400
    assert message in str(caught.value)


@pytest.mark.parametrize("content_type", ["image/png", "application/x-libsvm", "", "text/plain"])
def test_unsupported_content_type_is_415(content_type: str) -> None:
    with pytest.raises(RequestError) as caught:
        parse_instances(b"1,2,3", content_type, 3)
    assert caught.value.status == 415 and "unsupported content type" in str(caught.value)


@pytest.mark.parametrize(
    "content_type",
    ["text/csv", "application/json", "application/jsonlines", "application/x-recordio-protobuf"],
)
def test_random_bodies_only_ever_raise_request_error(content_type: str) -> None:
    rng = np.random.default_rng(5)
    valid = {
        "text/csv": b"1,2,3\n",
        "application/json": _json([{"features": [1, 2, 3]}]),
        "application/jsonlines": b'{"features":[1,2,3]}\n',
        "application/x-recordio-protobuf": _recordio_body(np.ones((1, 3), np.float32)),
    }[content_type]
    for trial in range(150):
        body = bytearray(valid)
        if trial % 3 == 0:
            body = bytearray(rng.integers(0, 256, rng.integers(1, 40)).astype(np.uint8).tobytes())
        else:
            for _ in range(rng.integers(1, 4)):
                body[rng.integers(0, len(body))] = rng.integers(0, 256)
        try:
            X = parse_instances(bytes(body), content_type, 3)
        except RequestError as exc:
            assert exc.status == 400
        else:
            assert X.shape[1] == 3 and X.dtype == np.float32


def test_csv_channel_round_trips_bit_for_bit_with_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = (rng.standard_normal((70, 9)) * 10.0 ** rng.integers(-30, 30, (70, 9))).astype(np.float32)
    labels = np.stack([rng.integers(0, 5, 70), rng.random(70)], axis=1)
    write_csv(tmp_path / "train.csv", X, labels)
    batches = list(iter_csv_batches(tmp_path / "train.csv", 9, label_size=2, batch_rows=32))
    assert [len(x) for _, x in batches] == [32, 32, 6]
    got_labels = np.concatenate([y for y, _ in batches if y is not None])
    got_X = np.concatenate([x for _, x in batches])
    assert np.array_equal(got_X.view(np.uint32), X.view(np.uint32))
    assert np.array_equal(got_labels, labels)


def test_csv_channel_label_sizes_zero_and_one() -> None:
    buffer = io.BytesIO()
    write_csv(buffer, ROWS, np.array([3.0, 4.5]))
    ((labels, X),) = list(iter_csv_batches(io.BytesIO(buffer.getvalue()), 3, label_size=1))
    assert labels is not None and labels.tolist() == [3.0, 4.5] and np.array_equal(X, ROWS)
    buffer = io.BytesIO()
    write_csv(buffer, ROWS)
    assert buffer.getvalue() == b"1,2.5,-3\n0,0.001,7\n"
    ((labels, X),) = list(iter_csv_batches(io.BytesIO(buffer.getvalue()), 3))
    assert labels is None and np.array_equal(X, ROWS)


def test_csv_channel_errors_name_file_and_line_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances, "_BLOCK_BYTES", 50)
    lines = [f"{i},{i / 2},{i * 3}" for i in range(120)]
    lines[99] = "1,2"
    text = ("\n".join(lines) + "\n").encode()
    with pytest.raises(DataFormatError) as caught:
        list(iter_csv_batches(io.BytesIO(text), 3, name="train.csv"))
    assert (caught.value.source, caught.value.line) == ("train.csv", 100)
    assert "2 values, expected 3" in caught.value.defect
    good = ("\n".join(lines[:99]) + "\n").encode()
    assert sum(len(x) for _, x in iter_csv_batches(io.BytesIO(good), 2, label_size=1, batch_rows=7)) == 99


def test_fuzzed_csv_agrees_with_the_line_checker_and_float() -> None:
    """The vectorised CSV reader accepts exactly what csv_line_defect accepts, with float()'s values."""
    rng = np.random.default_rng(4)
    alphabet = list(b"0123456789 ,.-+eE\n\rx")
    base = [b"1,2,3.5\n", b"-1e-3, 4 ,7\n", b"\n", b".5,5.,+3\n", b"1e300,1,1\n"]
    for _ in range(600):
        text = bytearray(b"".join(base[i] for i in rng.integers(0, len(base), rng.integers(1, 6))))
        for _ in range(rng.integers(0, 3)):
            position = int(rng.integers(0, len(text)))
            text[position : position + int(rng.integers(0, 2))] = bytes(
                [alphabet[rng.integers(0, len(alphabet))]]
            )
        lines = bytes(text).split(b"\n")
        defects = [(n, d) for n, line in enumerate(lines, 1) if (d := instances.csv_line_defect(line, 3, 1))]
        rows = [line.split(b",") for line in lines if line.strip(b" \r")]
        if defects:
            with pytest.raises(DataFormatError) as caught:
                list(iter_csv_batches(io.BytesIO(bytes(text)), 2, label_size=1))
            assert (caught.value.line, caught.value.defect) == defects[0]
            continue
        batches = list(iter_csv_batches(io.BytesIO(bytes(text)), 2, label_size=1))
        got_X = np.concatenate([X for _, X in batches]) if batches else np.zeros((0, 2), np.float32)
        expected = np.array([[np.float32(float(v)) for v in row[1:]] for row in rows], np.float32).reshape(
            -1, 2
        )
        assert np.array_equal(got_X, expected)
        got_labels = [float(v) for labels, _ in batches if labels is not None for v in labels]
        assert got_labels == [float(row[0]) for row in rows]
