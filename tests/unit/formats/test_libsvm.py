"""libsvm: strict like Spark, exact float32 round trips, streaming batches, and one message per defect."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import dump_svmlight_file, load_svmlight_file

from clusterflow.errors import DataFormatError
from clusterflow.formats import libsvm
from clusterflow.formats.libsvm import LibsvmSummary, inspect_libsvm, iter_libsvm, read_libsvm, write_libsvm


def _sparse_data(rows: int, cols: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, cols)).astype(np.float32)
    X *= (np.float32(10.0) ** rng.integers(-44, 37, (rows, cols))).astype(np.float32)
    X[~np.isfinite(X)] = 1.0
    # -0.0 is a zero, and libsvm omits zeros: it reads back as +0.0.
    X[(rng.random((rows, cols)) < 0.6) | (X == 0)] = 0.0
    labels = rng.integers(0, 10, rows).astype(np.float64)
    labels[::5] += 0.25
    return labels, X


def _read(text: bytes, num_features: int = 4, name: str = "data.libsvm") -> tuple[np.ndarray, np.ndarray]:
    return read_libsvm(io.BytesIO(text), num_features, name=name)


def test_round_trip_is_bit_for_bit_including_subnormals_and_extremes() -> None:
    labels, X = _sparse_data(400, 60)
    X[0, :4] = [np.finfo(np.float32).max, np.finfo(np.float32).smallest_subnormal, -1e-45, 16777217.0]
    buffer = io.BytesIO()
    write_libsvm(buffer, labels, X)
    back_labels, back_X = _read(buffer.getvalue(), 60)
    assert back_X.dtype == np.float32 and back_labels.dtype == np.float64
    assert np.array_equal(back_X.view(np.uint32), X.view(np.uint32))
    assert np.array_equal(back_labels, labels)


def test_writer_output_is_one_based_ascending_integral_labels_and_no_zeros(tmp_path: Path) -> None:
    X = np.array([[0.0, 2.5, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [0.1, 0.0, 3.0, 0.0]], np.float32)
    write_libsvm(tmp_path / "out.libsvm", np.array([1.0, 0.0, 2.5]), X)
    assert (tmp_path / "out.libsvm").read_bytes() == b"1 2:2.5 4:1\n0\n2.5 1:0.1 3:3\n"


def test_reader_agrees_with_scikit_learn_on_its_own_output(tmp_path: Path) -> None:
    labels, X = _sparse_data(300, 40, seed=1)
    path = tmp_path / "sk.libsvm"
    dump_svmlight_file(X, labels, str(path), zero_based=False)
    expected_X, expected_labels = load_svmlight_file(str(path), n_features=40)
    got_labels, got_X = read_libsvm(path, 40)
    assert np.array_equal(got_X, expected_X.toarray().astype(np.float32))
    assert np.array_equal(got_labels, expected_labels)


@pytest.mark.parametrize(
    "token",
    ["1.", ".5", "+3", "-0.25", "1e-3", "1E+2", "007", "0.1234567890123456789012", "12345678901234567890123"],
)
def test_number_forms_parse_like_float(token: str) -> None:
    _labels, X = _read(f"1 2:{token}\n".encode())
    assert X[0, 1] == np.float32(float(token))


def test_long_decimals_near_float32_midpoints_round_like_float() -> None:
    rng = np.random.default_rng(7)
    low = rng.standard_normal(3000).astype(np.float32)
    high = np.nextafter(low, np.float32(np.inf))
    midpoints = (low.astype(np.float64) + high.astype(np.float64)) / 2
    offsets = midpoints * rng.choice([-1e-16, 0.0, 1e-16, 3e-17], size=len(midpoints))
    digits = rng.integers(16, 20, len(midpoints))
    tokens = [f"{m + o:.{d}g}" for m, o, d in zip(midpoints, offsets, digits, strict=True)]
    text = "".join(f"0 1:{token}\n" for token in tokens).encode()
    _labels, X = _read(text, 1)
    expected = np.array([np.float32(float(token)) for token in tokens])
    assert np.array_equal(X[:, 0].view(np.uint32), expected.view(np.uint32))


def test_blank_lines_comment_lines_and_crlf_are_skipped_like_spark() -> None:
    text = b"# header comment\r\n\r\n1 1:1 3:2\r\n   # indented comment\n   \n0 2:5\n"
    labels, X = _read(text)
    assert labels.tolist() == [1.0, 0.0]
    assert X.tolist() == [[1, 0, 2, 0], [0, 5, 0, 0]]


def test_last_line_without_newline_and_label_only_rows() -> None:
    labels, X = _read(b"3\n4 4:1")
    assert labels.tolist() == [3.0, 4.0]
    assert X.tolist() == [[0, 0, 0, 0], [0, 0, 0, 1]]


REFUSALS = [
    (b"1 1:1\n1 0:1\n", "index 0", 2),
    (b"1 -2:1\n", "negative index -2", 1),
    (b"1 3:1 2:1\n", "indices not strictly ascending: 2 after 3", 1),
    (b"1 3:1 3:1\n", "duplicate index 3", 1),
    (b"1 5:1\n", "index 5 > num_features 4", 1),
    (b"1 2:nan\n", "NaN/inf value 'nan' for index 2", 1),
    (b"1 2:-Infinity\n", "NaN/inf value '-Infinity'", 1),
    (b"1 2:1e39\n", "outside the float32 range", 1),
    (b"1 2:abc\n", "non-numeric value 'abc' for index 2", 1),
    (b"1 2:1.2.3\n", "non-numeric value '1.2.3'", 1),
    (b"1 2:3\nyes 1:1\n", "non-numeric label 'yes'", 2),
    (b"nan 1:1\n", "NaN/inf label 'nan'", 1),
    (b"1 5:\n", "truncated pair '5:'", 1),
    (b"1 :3\n", "truncated pair ':3'", 1),
    (b"1 5\n", "truncated pair '5'", 1),
    (b"1 2:3:4\n", "malformed pair '2:3:4'", 1),
    (b"1 x:4\n", "non-integer index in 'x:4'", 1),
    (b"1 2.0:4\n", "non-integer index in '2.0:4'", 1),
    (b"2:3 4:1\n", "missing label", 1),
    (b"1 2:3 # trailing\n", "'#' after data", 1),
    (b"1\t2:3\n", "tab character", 1),
    (b"label,f1,f2\n1,2,3\n", "looks like CSV", 1),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8 text", 1),
    (b"1 1:1\n\x00\x01\x02\x03\n", "binary data (control byte 0x00", 2),
    (b"1 2:3\n1 2:\xe9\n", "not UTF-8", 2),
]


@pytest.mark.parametrize(("text", "defect", "line"), REFUSALS)
def test_each_defect_is_named_with_source_and_line(text: bytes, defect: str, line: int) -> None:
    with pytest.raises(DataFormatError) as caught:
        _read(text, name="upload.libsvm")
    assert defect in caught.value.defect
    assert (caught.value.source, caught.value.line) == ("upload.libsvm", line)
    assert str(caught.value).startswith(f"upload.libsvm, line {line}: ")


@pytest.mark.parametrize("text", [b"", b"\n\n", b"# only a comment\n"])
def test_file_without_data_rows_is_refused(text: bytes) -> None:
    with pytest.raises(DataFormatError, match=r"empty\.libsvm: empty file: no data rows"):
        _read(text, name="empty.libsvm")


def test_errors_far_into_a_multi_block_file_name_the_right_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libsvm, "BLOCK_BYTES", 64)
    lines = [f"{i % 3} 1:{i} 4:0.5" for i in range(1, 200)]
    lines[150] = "1 4:1 2:1"
    with pytest.raises(DataFormatError) as caught:
        _read(("\n".join(lines) + "\n").encode())
    assert caught.value.line == 151


def test_small_blocks_and_batches_give_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    labels, X = _sparse_data(97, 30, seed=3)
    buffer = io.BytesIO()
    write_libsvm(buffer, labels, X)
    monkeypatch.setattr(libsvm, "BLOCK_BYTES", 100)
    batches = list(iter_libsvm(io.BytesIO(buffer.getvalue()), 30, batch_rows=10))
    assert [len(b[0]) for b in batches] == [10] * 9 + [7]
    assert all(b[1].shape == (len(b[0]), 30) and b[1].dtype == np.float32 for b in batches)
    assert np.array_equal(np.concatenate([b[1] for b in batches]), X)
    assert np.array_equal(np.concatenate([b[0] for b in batches]), labels)


def test_gzip_is_detected_by_magic_and_a_fake_gz_is_refused(tmp_path: Path) -> None:
    text = b"1 1:1\n0 4:2\n"
    (tmp_path / "data.libsvm.gz").write_bytes(gzip.compress(text))
    (tmp_path / "compressed-without-suffix").write_bytes(gzip.compress(text))
    (tmp_path / "fake.libsvm.gz").write_bytes(text)
    plain = read_libsvm(io.BytesIO(text), 4)
    for path in ("data.libsvm.gz", "compressed-without-suffix"):
        got = read_libsvm(tmp_path / path, 4)
        assert np.array_equal(got[0], plain[0]) and np.array_equal(got[1], plain[1])
    with pytest.raises(DataFormatError, match=r"fake\.libsvm\.gz: not a gzip file"):
        read_libsvm(tmp_path / "fake.libsvm.gz", 4)
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip"):
        read_libsvm(io.BytesIO(gzip.compress(text * 100)[:-12]), 4, name="cut.gz")


def test_missing_file_is_a_data_format_error(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="cannot open"):
        read_libsvm(tmp_path / "absent.libsvm", 4)


def test_inspect_summarises_the_whole_file() -> None:
    text = b"# c\n3 1:1\n1 2:1 3:5\n3\n"
    summary = inspect_libsvm(io.BytesIO(text), 4)
    assert summary == LibsvmSummary(rows=3, max_index=3, labels=[1.0, 3.0], bytes=len(text))
    many = "".join(f"{i} 1:1\n" for i in range(1001)).encode()
    assert inspect_libsvm(io.BytesIO(many), 1).labels is None
    with pytest.raises(DataFormatError, match="line 3: index 5 > num_features 4"):
        inspect_libsvm(io.BytesIO(b"1 1:1\n\n1 5:1\n"), 4)


def test_writer_refuses_non_finite_values() -> None:
    with pytest.raises(DataFormatError, match="NaN/inf"):
        write_libsvm(io.BytesIO(), np.zeros(1), np.array([[np.nan]], np.float32))


def test_fuzzed_files_agree_with_the_line_by_line_checker_and_float() -> None:
    """The vectorised reader accepts exactly what line_defect accepts, with float()'s values."""
    rng = np.random.default_rng(3)
    alphabet = list(b"0123456789 :.-+eE\n#\tx,\r")
    base = [b"1 1:2 3:4.5\n", b"0 2:-1e-3 4:7\n", b"# c\n", b"\n", b"2.5\n", b"3 1:.5 2:5. 4:+3\n"]
    for _ in range(700):
        text = bytearray(b"".join(base[i] for i in rng.integers(0, len(base), rng.integers(1, 6))))
        for _ in range(rng.integers(0, 3)):
            position = int(rng.integers(0, len(text)))
            text[position : position + int(rng.integers(0, 2))] = bytes(
                [alphabet[rng.integers(0, len(alphabet))]]
            )
        lines = bytes(text).split(b"\n")
        defects = [(number, d) for number, line in enumerate(lines, 1) if (d := libsvm.line_defect(line, 4))]
        rows = [
            line.replace(b"\r", b" ").split() for line in lines if line.strip(b" \r")[:1] not in (b"", b"#")
        ]
        if defects:
            with pytest.raises(DataFormatError) as caught:
                _read(bytes(text))
            assert (caught.value.line, caught.value.defect) == defects[0]
        elif not rows:
            with pytest.raises(DataFormatError, match="empty file"):
                _read(bytes(text))
        else:
            labels, X = _read(bytes(text))
            assert labels.tolist() == [float(fields[0]) for fields in rows]
            expected = np.zeros((len(rows), 4), np.float32)
            for r, fields in enumerate(rows):
                for pair in fields[1:]:
                    index, value = pair.split(b":")
                    expected[r, int(index) - 1] = np.float32(float(value))
            assert np.array_equal(X, expected)


class _ReadOnlyStream:
    """Like botocore's StreamingBody: read(n) only, no seek, no name."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(size, 7) if size and size > 0 else size)


def test_non_seekable_streams_plain_and_gzip_are_read() -> None:
    text = b"1 1:1\n0 4:2.5\n" * 50
    for data in (text, gzip.compress(text)):
        summary = inspect_libsvm(_ReadOnlyStream(data), 4, name="incoming/upload.libsvm")  # type: ignore[arg-type]
        assert summary == LibsvmSummary(rows=100, max_index=4, labels=[0.0, 1.0], bytes=len(text))


def test_very_long_tokens_are_parsed_exactly() -> None:
    _labels, X = _read(b"1 1:1" + b"0" * 65536 + b"e-65536 2:0." + b"0" * 40 + b"25\n", 2)
    assert X[0].tolist() == [1.0, np.float32(2.5e-41)]
