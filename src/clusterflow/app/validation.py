"""The first state: refuse a bad upload before any Spark or training job starts.

The object is streamed from S3 (never loaded whole) through `inspect_libsvm`; a refused object is
moved to `rejected/` beside a `<key>.reason.txt` and the run fails with `InputRejected`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from clusterflow.app.config import RunParameters, Settings
from clusterflow.app.faults import InputRejected, call_aws, error_code
from clusterflow.app.names import rejected_key, run_names, s3_uri
from clusterflow.app.storage import now_iso, update_manifest
from clusterflow.errors import DataFormatError
from clusterflow.formats.libsvm import inspect_libsvm


def locate_object(s3: Any, bucket: str, key: str, version_id: str | None) -> tuple[str, dict[str, Any]]:
    """HEAD the object; S3 notifications may carry a URL-encoded key, so try the decoded form too."""
    for candidate in dict.fromkeys((key, unquote_plus(key))):
        ref = _object_ref(bucket, candidate, version_id)
        try:
            head: dict[str, Any] = call_aws("s3", lambda: s3.head_object(**ref))  # noqa: B023
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NoSuchVersion", "400"):
                continue
            raise
        return candidate, head
    raise InputRejected(f"s3://{bucket}/{key}: the object (version {version_id or 'latest'}) does not exist")


def _object_ref(bucket: str, key: str, version_id: str | None) -> dict[str, str]:
    ref = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        ref["VersionId"] = version_id
    return ref


def inspect_object(
    s3: Any, bucket: str, key: str, version_id: str | None, head: dict[str, Any], params: RunParameters
) -> dict[str, Any]:
    """Size, format and feature count; raises `InputRejected` naming the defect and line."""
    size = int(head.get("ContentLength", 0))
    if size == 0:
        raise InputRejected(f"{key}: the file is empty")
    if size > params.max_upload_bytes:
        raise InputRejected(
            f"{key}: {size} bytes exceeds the upload limit of {params.max_upload_bytes} bytes"
        )
    body = call_aws("s3", lambda: s3.get_object(**_object_ref(bucket, key, version_id)))["Body"]
    try:
        # The reader detects gzip by its magic bytes and streams the body block by block.
        summary = inspect_libsvm(body, params.feature_dim, name=key)
    except DataFormatError as exc:
        raise InputRejected(str(exc)) from exc
    finally:
        body.close()
    if summary.rows == 0:
        raise InputRejected(f"{key}: the file holds no libsvm rows")
    return {"key": key, "bytes": size, "rows": summary.rows, "max_index": summary.max_index}


def reject_object(s3: Any, bucket: str, key: str, version_id: str | None, reason: str) -> str:
    """Move the object to `rejected/` and write the reason beside it; returns the new key."""
    target = rejected_key(key)
    source = {"Bucket": bucket, "Key": key}
    if version_id and version_id != "null":
        source["VersionId"] = version_id
    call_aws("s3", lambda: s3.copy_object(Bucket=bucket, Key=target, CopySource=source))
    reason_body = f"{reason}\n".encode()
    call_aws("s3", lambda: s3.put_object(Bucket=bucket, Key=f"{target}.reason.txt", Body=reason_body))
    call_aws("s3", lambda: s3.delete_object(**_object_ref(bucket, key, version_id)))
    return target


def validate_input(
    s3: Any, *, run_id: str, execution_input: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    """Validate the run's input object and parameters; returns the run context the states carry."""
    bucket = str(execution_input.get("bucket") or settings.data_bucket)
    key = str(execution_input.get("key") or "")
    version_id = execution_input.get("version_id")
    if not key:
        raise InputRejected("the execution input names no object key")
    params = RunParameters.resolve(execution_input.get("parameters"), settings)
    key, head = locate_object(s3, bucket, key, version_id)
    try:
        found = inspect_object(s3, bucket, key, version_id, head, params)
    except InputRejected as exc:
        moved_to = reject_object(s3, bucket, key, version_id, str(exc))
        update_manifest(
            s3,
            bucket,
            run_id,
            {"status": "REJECTED", "input": {"key": key, "rejected_key": moved_to}, "error": str(exc)},
        )
        raise
    run = {
        "run_id": run_id,
        "bucket": bucket,
        "key": found["key"],
        "version_id": version_id,
        "input_uri": s3_uri(bucket, found["key"]),
        "rows": found["rows"],
        "bytes": found["bytes"],
        "parameters": params.model_dump(mode="json"),
        "names": run_names(run_id, settings.resource_prefix).as_dict(),
    }
    update_manifest(
        s3,
        bucket,
        run_id,
        {
            "status": "RUNNING",
            "started_at": now_iso(),
            "input": {name: run[name] for name in ("key", "version_id", "input_uri", "rows", "bytes")},
            "parameters": run["parameters"],
            "names": run["names"],
        },
    )
    return run
