"""Data bucket access: the run manifest, `runs/latest.json`, and deleting a prefix with its versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from clusterflow.app.faults import call_aws, error_code
from clusterflow.app.names import LATEST_KEY, manifest_key


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = call_aws("s3", lambda: s3.get_object(Bucket=bucket, Key=key))["Body"].read()
    except ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    loaded = json.loads(body)
    return loaded if isinstance(loaded, dict) else None


def write_json(s3: Any, bucket: str, key: str, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode("utf-8")
    call_aws("s3", lambda: s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json"))


def read_manifest(s3: Any, bucket: str, run_id: str) -> dict[str, Any] | None:
    return read_json(s3, bucket, manifest_key(run_id))


def update_manifest(s3: Any, bucket: str, run_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into the run's manifest (top-level keys replace) and write it back."""
    manifest = read_manifest(s3, bucket, run_id) or {"run_id": run_id, "created_at": now_iso()}
    manifest.update(changes)
    manifest["updated_at"] = now_iso()
    write_json(s3, bucket, manifest_key(run_id), manifest)
    return manifest


def latest_run_id(s3: Any, bucket: str) -> str | None:
    latest = read_json(s3, bucket, LATEST_KEY)
    return str(latest["run_id"]) if latest and latest.get("run_id") else None


def delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object version and delete marker under `prefix`; returns how many were removed."""
    removed = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in call_aws("s3", lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix))):
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        batch = [{"Key": entry["Key"], "VersionId": entry["VersionId"]} for entry in entries]
        for start in range(0, len(batch), 1000):
            chunk = batch[start : start + 1000]
            _delete_batch(s3, bucket, chunk)
            removed += len(chunk)
    return removed


def count_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Object versions (and delete markers) left under `prefix`."""
    paginator = s3.get_paginator("list_object_versions")
    return sum(
        len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
    )


def _delete_batch(s3: Any, bucket: str, batch: list[dict[str, str]]) -> None:
    call_aws("s3", lambda: s3.delete_objects(Bucket=bucket, Delete={"Objects": batch}))
