"""Where the job reads and writes: `s3://bucket/key` on AWS, local paths (or `file://`) in the local cloud.

Shards are written by the executors themselves (one file per partition), so everything here must work
inside a Python worker: boto3 clients are created where they are used.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from clusterflow.errors import ClusterflowError

_S3_SCHEMES = ("s3", "s3a", "s3n")


class StorageError(ClusterflowError):
    """A URI that cannot be read or written."""


def part_name(partition: int, suffix: str = ".pbr") -> str:
    return f"part-{partition:05d}{suffix}"


def is_s3(uri: str) -> bool:
    return urlparse(uri).scheme in _S3_SCHEMES


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme not in _S3_SCHEMES or not parsed.netloc:
        raise StorageError(f"not an S3 URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    if uri.startswith("file://"):
        return Path(urlparse(uri).path)
    if "://" in uri:
        raise StorageError(f"unsupported URI scheme (use s3:// or a local path): {uri!r}")
    return Path(uri)


def spark_path(uri: str) -> str:
    """What Spark's readers and writers accept: S3 URIs as they are, local paths made absolute."""
    return uri if is_s3(uri) else str(local_path(uri).resolve())


def _s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def _prefix_key(key: str) -> str:
    return key if not key or key.endswith("/") else f"{key}/"


def read_bytes(uri: str) -> bytes:
    if is_s3(uri):
        bucket, key = split_s3(uri)
        try:
            return bytes(_s3_client().get_object(Bucket=bucket, Key=key)["Body"].read())
        except Exception as exc:
            raise StorageError(f"cannot read {uri}: {exc}") from exc
    path = local_path(uri)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StorageError(f"cannot read {uri}: {exc.strerror or exc}") from exc


def _s3_names(prefix_uri: str) -> list[str]:
    bucket, key = split_s3(prefix_uri)
    prefix = _prefix_key(key)
    names: list[str] = []
    for page in _s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        names += [item["Key"][len(prefix) :] for item in page.get("Contents", [])]
    return names


def _part_pattern(suffix: str) -> re.Pattern[str]:
    return re.compile(r"part-\d{5}" + re.escape(suffix))


def list_parts(prefix_uri: str, suffix: str = ".pbr") -> list[str]:
    """Names of the `part-NNNNN<suffix>` files directly under the prefix, sorted."""
    if is_s3(prefix_uri):
        names = _s3_names(prefix_uri)
    else:
        directory = local_path(prefix_uri)
        names = [entry.name for entry in directory.iterdir()] if directory.is_dir() else []
    pattern = _part_pattern(suffix)
    return sorted(name for name in names if pattern.fullmatch(name))


def delete_parts(prefix_uri: str, suffix: str = ".pbr") -> int:
    """Remove a previous attempt's parts (and its unfinished temporary files) so a retry starts clean."""
    pattern = _part_pattern(suffix)
    if is_s3(prefix_uri):
        bucket, key = split_s3(prefix_uri)
        doomed = [_prefix_key(key) + name for name in _s3_names(prefix_uri) if pattern.fullmatch(name)]
        client = _s3_client()
        for start in range(0, len(doomed), 1000):
            chunk = doomed[start : start + 1000]
            client.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
        return len(doomed)
    directory = local_path(prefix_uri)
    if not directory.is_dir():
        return 0
    removed = 0
    for entry in directory.iterdir():
        unfinished = entry.name.startswith(".part-") and entry.name.endswith(f"{suffix}.tmp")
        if entry.is_file() and (pattern.fullmatch(entry.name) or unfinished):
            entry.unlink()
            removed += int(not unfinished)
    return removed


@contextmanager
def open_part(prefix_uri: str, name: str) -> Iterator[BinaryIO]:
    """A binary file for `<prefix>/<name>`: it appears whole when the block ends, or not at all on error."""
    if is_s3(prefix_uri):
        bucket, key = split_s3(prefix_uri)
        # A local spool file lets boto3's managed transfer choose single or multipart upload by size.
        with tempfile.NamedTemporaryFile(suffix=".part") as spool:
            yield spool  # type: ignore[misc]
            spool.flush()
            _s3_client().upload_file(spool.name, bucket, _prefix_key(key) + name)
        return
    directory = local_path(prefix_uri)
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{name}.{uuid.uuid4().hex[:8]}{Path(name).suffix}.tmp"
    try:
        with partial.open("wb") as handle:
            yield handle
        os.replace(partial, directory / name)
    finally:
        partial.unlink(missing_ok=True)
