"""S3 `Object Created` (through EventBridge, or an S3 notification) -> one execution per object content.

The execution is named from bucket, key and the object's ETag (its content; the version id when no
ETag is given), so a duplicate event or a re-upload of identical bytes hits `ExecutionAlreadyExists`,
which counts as success, while a changed object starts a new run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from clusterflow.app.config import RunParameters, Settings
from clusterflow.app.faults import call_aws, error_code
from clusterflow.app.names import run_id_for_object
from clusterflow.app.observability import MetricUnit, metrics

INCOMING_PREFIX = "incoming/"
ACCEPTED_SUFFIXES = (".libsvm", ".libsvm.gz")


@dataclass(frozen=True)
class UploadedObject:
    bucket: str
    key: str
    version_id: str | None
    etag: str | None

    @property
    def run_id(self) -> str:
        return run_id_for_object(self.bucket, self.key, self.etag or self.version_id)


def objects_in_event(event: dict[str, Any]) -> list[UploadedObject]:
    """EventBridge `Object Created` events and S3 notification records (keys URL-encoded there)."""
    if "detail" in event:
        detail = event["detail"]
        obj = detail.get("object", {})
        return [
            UploadedObject(
                bucket=detail["bucket"]["name"],
                key=obj["key"],
                version_id=obj.get("version-id"),
                # AWS documents "etag"; some emitters (moto) send "eTag".
                etag=(obj.get("etag") or obj.get("eTag") or "").strip('"') or None,
            )
        ]
    found = []
    for record in event.get("Records", []):
        s3 = record.get("s3", {})
        obj = s3.get("object", {})
        found.append(
            UploadedObject(
                bucket=s3["bucket"]["name"],
                key=unquote_plus(obj["key"]),
                version_id=obj.get("versionId"),
                etag=(obj.get("eTag") or "").strip('"') or None,
            )
        )
    return found


def is_pipeline_input(key: str) -> bool:
    return key.startswith(INCOMING_PREFIX) and key.endswith(ACCEPTED_SUFFIXES)


def execution_input(upload: UploadedObject, settings: Settings) -> dict[str, Any]:
    """Self-contained: a console re-run under another name needs nothing else."""
    return {
        "bucket": upload.bucket,
        "key": upload.key,
        "version_id": upload.version_id,
        "parameters": RunParameters.resolve(None, settings).model_dump(mode="json"),
    }


def start_runs(stepfunctions: Any, *, event: dict[str, Any], settings: Settings) -> list[dict[str, str]]:
    """Start one execution per uploaded object; a duplicate is reported, not an error."""
    state_machine_arn = settings.require("state_machine_arn")
    results = []
    for upload in objects_in_event(event):
        if not is_pipeline_input(upload.key):
            results.append({"key": upload.key, "status": "ignored"})
            continue
        results.append(_start_one(stepfunctions, state_machine_arn, upload, settings))
    for status in ("started", "duplicate", "ignored"):
        count = sum(1 for result in results if result["status"] == status)
        metrics.add_metric(name=f"Uploads{status.capitalize()}", unit=MetricUnit.Count, value=count)
    return results


def _start_one(
    stepfunctions: Any, state_machine_arn: str, upload: UploadedObject, settings: Settings
) -> dict[str, str]:
    document = json.dumps(execution_input(upload, settings))
    try:
        started = call_aws(
            "states",
            lambda: stepfunctions.start_execution(
                stateMachineArn=state_machine_arn, name=upload.run_id, input=document
            ),
        )
    except ClientError as exc:
        if error_code(exc) == "ExecutionAlreadyExists":
            return {"key": upload.key, "run_id": upload.run_id, "status": "duplicate"}
        raise
    return {
        "key": upload.key,
        "run_id": upload.run_id,
        "status": "started",
        "execution_arn": started["executionArn"],
    }
