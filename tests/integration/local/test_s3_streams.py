"""The local S3 streams large objects: GetObject, whole or ranged, answers the object's bytes without
reading it whole into memory, and a multipart upload completes without joining its parts in memory."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from moto.s3.models import FakeKey
from moto.server import ThreadedMotoServer

from clusterflow.local.clients import local_client
from clusterflow.local.s3_streams import STREAM_ABOVE_BYTES, StreamedObjects


@pytest.fixture
def s3() -> Iterator[Any]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    seam = StreamedObjects()
    seam.install()
    try:
        host, port = server.get_host_and_port()
        client = local_client("s3", f"http://{host}:{port}", "us-east-1")
        client.create_bucket(Bucket="cf-reads")
        yield client
    finally:
        seam.uninstall()
        server.stop()


def whole_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Sizes of every read of a whole object's bytes (`FakeKey.value`) from now on."""
    seen: list[int] = []
    value = FakeKey.value

    def counted(key: FakeKey) -> Any:
        body = value.fget(key)  # type: ignore[attr-defined]
        if isinstance(body, bytes):
            seen.append(len(body))
        return body

    monkeypatch.setattr(FakeKey, "value", property(counted, value.fset))
    return seen


def test_large_objects_are_served_by_range_without_reading_them_whole(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(STREAM_ABOVE_BYTES + 3 * 2**20 + 17)
    s3.put_object(Bucket="cf-reads", Key="big", Body=data)
    reads = whole_reads(monkeypatch)

    target = tmp_path / "big"
    s3.download_file("cf-reads", "big", str(target), Config=TransferConfig(multipart_chunksize=2**20))
    assert target.read_bytes() == data
    assert s3.get_object(Bucket="cf-reads", Key="big")["Body"].read() == data
    ranged = s3.get_object(Bucket="cf-reads", Key="big", Range="bytes=5-1048580")
    assert ranged["Body"].read() == data[5:1048581] and ranged["ContentRange"].endswith(f"/{len(data)}")
    assert reads == []


def test_small_objects_and_the_other_calls_read_as_before(s3: Any) -> None:
    s3.put_object(Bucket="cf-reads", Key="small", Body=b"0123456789")
    assert s3.get_object(Bucket="cf-reads", Key="small", Range="bytes=2-4")["Body"].read() == b"234"
    assert s3.get_object(Bucket="cf-reads", Key="small")["Body"].read() == b"0123456789"
    s3.copy_object(Bucket="cf-reads", Key="copy", CopySource={"Bucket": "cf-reads", "Key": "small"})
    assert s3.get_object(Bucket="cf-reads", Key="copy")["Body"].read() == b"0123456789"


def test_a_multipart_upload_completes_with_the_object_and_the_etag_s3_gives(s3: Any, tmp_path: Path) -> None:
    part = 5 * 2**20
    data = os.urandom(2 * part + 1234)
    source = tmp_path / "upload"
    source.write_bytes(data)
    s3.upload_file(
        str(source),
        "cf-reads",
        "multi",
        Config=TransferConfig(multipart_threshold=part, multipart_chunksize=part),
    )

    assert s3.get_object(Bucket="cf-reads", Key="multi")["Body"].read() == data
    chunks = [data[start : start + part] for start in range(0, len(data), part)]
    digests = b"".join(hashlib.md5(chunk).digest() for chunk in chunks)
    expected = f'"{hashlib.md5(digests).hexdigest()}-{len(chunks)}"'
    assert s3.head_object(Bucket="cf-reads", Key="multi")["ETag"] == expected


def test_a_part_below_the_minimum_size_is_refused_as_s3_does(s3: Any) -> None:
    upload = s3.create_multipart_upload(Bucket="cf-reads", Key="small-parts")["UploadId"]
    etags = [
        s3.upload_part(Bucket="cf-reads", Key="small-parts", UploadId=upload, PartNumber=n, Body=b"x" * 100)[
            "ETag"
        ]
        for n in (1, 2)
    ]
    parts = [{"PartNumber": n, "ETag": etag} for n, etag in zip((1, 2), etags, strict=True)]
    with pytest.raises(s3.exceptions.ClientError, match="EntityTooSmall"):
        s3.complete_multipart_upload(
            Bucket="cf-reads", Key="small-parts", UploadId=upload, MultipartUpload={"Parts": parts}
        )


def test_listing_versions_copies_no_object_bytes_and_leaves_the_objects_readable(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    s3.put_bucket_versioning(Bucket="cf-reads", VersioningConfiguration={"Status": "Enabled"})
    first, second = os.urandom(STREAM_ABOVE_BYTES + 1), os.urandom(STREAM_ABOVE_BYTES + 2)
    old = s3.put_object(Bucket="cf-reads", Key="runs/r/staging/a", Body=first)["VersionId"]
    new = s3.put_object(Bucket="cf-reads", Key="runs/r/staging/a", Body=second)["VersionId"]
    reads = whole_reads(monkeypatch)

    listed = s3.list_object_versions(Bucket="cf-reads", Prefix="runs/r/staging/")["Versions"]
    gc.collect()  # the listing's copies are gone: the objects' own buffers must still be open

    assert reads == []
    assert [(v["VersionId"], v["Size"], v["IsLatest"]) for v in listed] == [
        (new, len(second), True),
        (old, len(first), False),
    ]
    assert listed[0]["ETag"] == f'"{hashlib.md5(second).hexdigest()}"'
    assert s3.get_object(Bucket="cf-reads", Key="runs/r/staging/a", VersionId=old)["Body"].read() == first
    s3.copy_object(
        Bucket="cf-reads", Key="copy", CopySource={"Bucket": "cf-reads", "Key": "runs/r/staging/a"}
    )
    assert s3.get_object(Bucket="cf-reads", Key="copy")["Body"].read() == second
