"""Shard storage on local paths and on S3 (moto): atomic shards, clean retries, listing, reading."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from clusterflow.spark.storage import (
    StorageError,
    delete_parts,
    list_parts,
    local_path,
    open_part,
    part_name,
    read_bytes,
    spark_path,
    split_s3,
)


def _write(prefix: str, name: str, payload: bytes) -> None:
    with open_part(prefix, name) as handle:
        handle.write(payload)


def test_shard_names_and_uris(tmp_path: Path) -> None:
    assert part_name(0) == "part-00000.pbr"
    assert part_name(123, ".parquet") == "part-00123.parquet"
    assert split_s3("s3://bucket/runs/r1/staging/") == ("bucket", "runs/r1/staging/")
    assert local_path(f"file://{tmp_path}") == tmp_path
    assert spark_path("s3://b/k") == "s3://b/k"
    assert spark_path(str(tmp_path / "x")) == str((tmp_path / "x").resolve())
    with pytest.raises(StorageError, match="unsupported URI scheme"):
        local_path("gs://bucket/key")


def test_local_shards_replace_an_earlier_attempt(tmp_path: Path) -> None:
    prefix = tmp_path / "staging"
    _write(str(prefix), "part-00000.pbr", b"old-0")
    _write(str(prefix), "part-00001.pbr", b"old-1")
    _write(str(prefix), "part-00000.parquet", b"other kind")
    (prefix / ".part-00002.pbr.deadbeef.pbr.tmp").write_bytes(b"crashed attempt")
    (prefix / "manifest.json").write_text("{}")
    assert delete_parts(str(prefix)) == 2
    assert sorted(p.name for p in prefix.iterdir()) == ["manifest.json", "part-00000.parquet"]
    _write(str(prefix), "part-00000.pbr", b"new")
    assert list_parts(str(prefix)) == ["part-00000.pbr"]
    assert list_parts(str(prefix), ".parquet") == ["part-00000.parquet"]
    assert (prefix / "part-00000.pbr").read_bytes() == b"new"


def test_failed_local_write_leaves_no_shard(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), open_part(str(tmp_path), "part-00000.pbr") as handle:
        handle.write(b"half")
        raise RuntimeError("executor lost")
    assert list(tmp_path.iterdir()) == []


def test_missing_local_prefix_has_no_shards(tmp_path: Path) -> None:
    assert list_parts(str(tmp_path / "absent")) == []
    assert delete_parts(str(tmp_path / "absent")) == 0


def test_read_bytes_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot read .*model.tar.gz"):
        read_bytes(str(tmp_path / "model.tar.gz"))


@mock_aws
def test_s3_shards_read_list_and_delete() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="runs/r1/staging/part-00007.pbr", Body=b"stale")
    s3.put_object(Bucket="data", Key="runs/r1/staging/keep.txt", Body=b"x")
    s3.put_object(Bucket="data", Key="runs/r1/staging-other/part-00000.pbr", Body=b"other prefix")

    assert delete_parts("s3://data/runs/r1/staging") == 1
    _write("s3://data/runs/r1/staging/", "part-00000.pbr", b"\x0a\x23\xd7\xce")
    assert list_parts("s3://data/runs/r1/staging") == ["part-00000.pbr"]
    assert read_bytes("s3://data/runs/r1/staging/part-00000.pbr") == b"\x0a\x23\xd7\xce"
    keys = {item["Key"] for item in s3.list_objects_v2(Bucket="data")["Contents"]}
    assert keys == {
        "runs/r1/staging/part-00000.pbr",
        "runs/r1/staging/keep.txt",
        "runs/r1/staging-other/part-00000.pbr",
    }


@mock_aws
def test_s3_read_of_missing_object_is_a_storage_error() -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="data")
    with pytest.raises(StorageError, match="cannot read s3://data/models/model.tar.gz"):
        read_bytes("s3://data/models/model.tar.gz")


@mock_aws
def test_failed_s3_write_uploads_nothing() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    with pytest.raises(RuntimeError), open_part("s3://data/staging", "part-00000.pbr") as handle:
        handle.write(b"half")
        raise RuntimeError("executor lost")
    assert s3.list_objects_v2(Bucket="data").get("KeyCount") == 0
