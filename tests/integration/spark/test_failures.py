"""Bad libsvm input: the first line Spark would refuse, found and named."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from clusterflow.errors import DataFormatError
from clusterflow.spark.failures import locate_libsvm_defect, translate
from clusterflow.spark.storage import StorageError


@pytest.mark.parametrize(
    ("line", "defect"),
    [
        ("2 5:1 3:2", "indices not strictly ascending: 3 after 5 (indices must be strictly ascending)"),
        ("2 0:1", "index 0 in '0:1': indices are 1-based (this looks like a zero-based file)"),
        ("2 1:x", "non-numeric value 'x' for index 1"),
        ("2 1", "truncated pair '1': expected index:value"),
        ("cat 1:1", "non-numeric label 'cat'"),
        ("1 1:1 13:2", "index 13 > num_features 12 in '13:2'"),
    ],
)
def test_first_bad_line_is_located(tmp_path: Path, line: str, defect: str) -> None:
    path = tmp_path / "in.libsvm"
    path.write_text(f"1 1:0.5 3:2\n\n# comment\n{line}\n1 2:1\n")
    assert locate_libsvm_defect(path, 12) == (4, defect)


def test_gzip_input_is_scanned(tmp_path: Path) -> None:
    path = tmp_path / "in.libsvm.gz"
    path.write_bytes(gzip.compress(b"1 1:1\n0 2:1 1:1\n"))
    assert locate_libsvm_defect(path, 12) == (
        2,
        "indices not strictly ascending: 1 after 2 (indices must be strictly ascending)",
    )


def test_good_input_has_no_defect(tmp_path: Path) -> None:
    path = tmp_path / "in.libsvm"
    path.write_text("1 1:0.5 3:2\n0 12:1e-3\n")
    assert locate_libsvm_defect(path, 12) is None


def test_spark_parse_failure_becomes_data_format_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "in.libsvm"
    path.write_text("1 1:1\n1 1:1\n2 5:1 3:2\n")
    spark_text = (
        "An error occurred while calling o51.collectToPython.\n: org.apache.spark.SparkException: "
        "Job aborted: most recent failure: Lost task 0.0 in stage 0.0 (TID 0) (host executor driver): "
        "java.lang.IllegalArgumentException: requirement failed: indices should be one-based and in "
        'ascending order; found current=2, previous=4; line="2 5:1 3:2"\n'
        "\tat org.apache.spark.mllib.util.MLUtils$.parseLibSVMRecord(MLUtils.scala:146)"
    )
    error = translate(RuntimeError(spark_text), str(path), 12)
    assert isinstance(error, DataFormatError)
    assert (
        str(error)
        == f"{path}, line 3: indices not strictly ascending: 3 after 5 (indices must be strictly ascending)"
    )


def test_spark_message_is_kept_when_the_file_cannot_be_scanned() -> None:
    spark_text = (
        "most recent failure: Lost task 0.0 (executor driver): java.lang.IllegalArgumentException: "
        "requirement failed: Index 899 out of bounds for vector of size 784\n"
        "\tat org.apache.spark.ml.linalg.SparseVector.<init>(Vectors.scala:632)"
    )
    error = translate(RuntimeError(spark_text), "s3://data/incoming/x.libsvm", 784)
    assert str(error) == "s3://data/incoming/x.libsvm: feature index 900 is larger than --num_features 784"


def test_missing_input_and_unrelated_failures() -> None:
    missing = translate(RuntimeError("[PATH_NOT_FOUND] Path does not exist: file:/x"), "/x", 3)
    assert isinstance(missing, StorageError)
    assert str(missing) == "input not found: /x"
    assert translate(RuntimeError("java.lang.OutOfMemoryError: Java heap space"), "/x", 3) is None
