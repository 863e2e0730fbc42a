"""The first state refuses bad uploads: moved to rejected/ with a reason, InputRejected naming the defect."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from clusterflow.app import pipeline
from clusterflow.app.faults import InputRejected

from .conftest import Aws, libsvm_rows


def validate(aws: Aws, settings: Any, key: str, body: bytes, **parameters: Any) -> dict[str, Any]:
    version = aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=body)["VersionId"]
    event = {
        "run_id": "run-1",
        "state_name": "Validate the input object",
        "input": {"bucket": aws.bucket, "key": key, "version_id": version, "parameters": parameters},
    }
    return pipeline.validate_input(aws.s3, event, settings)


def keys(aws: Aws, prefix: str) -> list[str]:
    return [
        item["Key"] for item in aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix=prefix).get("Contents", [])
    ]


def test_a_good_upload_gives_the_run_context_and_a_manifest(aws: Aws, make_settings: Any) -> None:
    run = validate(aws, make_settings(), "incoming/train.libsvm", libsvm_rows(30), k=5)
    assert run["rows"] == 30
    assert run["parameters"]["k"] == 5 and run["parameters"]["poll_seconds"] == 1
    assert run["input_uri"] == f"s3://{aws.bucket}/incoming/train.libsvm"
    assert run["names"]["pca_training_job"].startswith("cft-")
    manifest = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key="runs/run-1/manifest.json")["Body"].read())
    assert manifest["status"] == "RUNNING" and manifest["input"]["rows"] == 30


def test_gzip_upload_is_streamed_and_accepted(aws: Aws, make_settings: Any) -> None:
    run = validate(aws, make_settings(), "incoming/train.libsvm.gz", gzip.compress(libsvm_rows(12)))
    assert run["rows"] == 12


BAD_INPUTS = {
    "zero-based index": (b"1 0:3 4:5\n", "line 1"),
    "unsorted indices": (b"1 1:3 2:4\n2 5:1 3:2\n", "line 2"),
    "duplicate index": (b"1 3:1 3:2\n", "line 1"),
    "index above the feature count": (b"1 1:3 785:1\n", "line 1"),
    "NaN value": (b"1 1:3\n1 2:nan\n", "line 2"),
    "non-numeric label": (b"seven 1:3\n", "line 1"),
    "truncated pair": (b"1 1:3 2:\n", "line 1"),
    "CSV in place of libsvm": (b"label,p1,p2\n1,0,3\n", "line 1"),
    "binary garbage": (bytes(range(256)) * 4, ""),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_malformed_uploads_are_refused_and_moved(aws: Aws, make_settings: Any, case: str) -> None:
    body, where = BAD_INPUTS[case]
    with pytest.raises(InputRejected) as refused:
        validate(aws, make_settings(), "incoming/bad.libsvm", body)
    message = str(refused.value)
    assert "incoming/bad.libsvm" in message and where in message
    assert keys(aws, "incoming/") == []
    assert keys(aws, "rejected/") == ["rejected/bad.libsvm", "rejected/bad.libsvm.reason.txt"]
    reason = (
        aws.s3.get_object(Bucket=aws.bucket, Key="rejected/bad.libsvm.reason.txt")["Body"].read().decode()
    )
    assert reason.strip() == message
    assert aws.s3.get_object(Bucket=aws.bucket, Key="rejected/bad.libsvm")["Body"].read() == body
    manifest = json.loads(aws.s3.get_object(Bucket=aws.bucket, Key="runs/run-1/manifest.json")["Body"].read())
    assert manifest["status"] == "REJECTED"


@pytest.mark.parametrize(
    ("key", "body", "defect"),
    [
        ("incoming/empty.libsvm", b"", "empty"),
        ("incoming/fake.libsvm.gz", b"1 1:3\n", "not a gzip file"),
        ("incoming/cut.libsvm.gz", gzip.compress(libsvm_rows(50))[:-40], "gzip"),
        ("incoming/blank.libsvm", b"\n\n", "empty"),
    ],
)
def test_empty_and_broken_gzip_uploads_are_refused(
    aws: Aws, make_settings: Any, key: str, body: bytes, defect: str
) -> None:
    with pytest.raises(InputRejected, match=defect):
        validate(aws, make_settings(), key, body)
    assert keys(aws, "rejected/") == sorted(
        [key.replace("incoming/", "rejected/"), key.replace("incoming/", "rejected/") + ".reason.txt"]
    )


def test_oversized_upload_is_refused_before_reading(aws: Aws, make_settings: Any) -> None:
    with pytest.raises(InputRejected, match="exceeds the upload limit of 100 bytes"):
        validate(aws, make_settings(MAX_UPLOAD_BYTES="100"), "incoming/big.libsvm", libsvm_rows(10))


def test_wrong_feature_count_is_refused(aws: Aws, make_settings: Any) -> None:
    with pytest.raises(InputRejected, match=r"wide.libsvm, line \d+: index \d+ > num_features 784"):
        validate(
            aws,
            make_settings(),
            "incoming/wide.libsvm",
            libsvm_rows(3, features=900, seed=3),
            feature_dim=784,
        )


def test_a_missing_object_is_refused_without_moving_anything(aws: Aws, make_settings: Any) -> None:
    event = {
        "run_id": "r",
        "input": {"bucket": aws.bucket, "key": "incoming/gone.libsvm", "version_id": None},
    }
    with pytest.raises(InputRejected, match="does not exist"):
        pipeline.validate_input(aws.s3, event, make_settings())
    assert keys(aws, "rejected/") == []


def test_a_url_encoded_key_is_found(aws: Aws, make_settings: Any) -> None:
    aws.s3.put_object(Bucket=aws.bucket, Key="incoming/my file.libsvm", Body=libsvm_rows(2))
    event = {
        "run_id": "r",
        "input": {"bucket": aws.bucket, "key": "incoming/my+file.libsvm", "version_id": None},
    }
    assert pipeline.validate_input(aws.s3, event, make_settings())["key"] == "incoming/my file.libsvm"
