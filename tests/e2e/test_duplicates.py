"""Issue 5 duplicates, re-runs and concurrency, through the deployed trigger (engines off, fast):
one execution per object content, a new one per new content, parallel uploads in disjoint runs.
"""

from __future__ import annotations

import json
import time
from typing import Any

from clusterflow.local.run import cleanup_by_run_id, flatten_resources

from .conftest import SmallMnist


def _executions(cloud: Any) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    found: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    return found


def _executions_for(cloud: Any, key: str) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    mine = []
    for execution in _executions(cloud):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if json.loads(described["input"])["key"] == key:
            mine.append(described)
    return mine


def _settle(cloud: Any, key: str, expected: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """Wait for deliveries to finish, then for every execution of `key` to end."""
    cloud.events.wait_idle()
    deadline = time.monotonic() + timeout
    while len(_executions_for(cloud, key)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return [cloud.wait_for_execution(e["executionArn"], timeout=timeout) for e in _executions_for(cloud, key)]


def test_same_content_uploaded_twice_starts_one_run_and_new_content_another(
    control_cloud: Any, small_mnist: SmallMnist, reliability_log: list[dict[str, Any]]
) -> None:
    cloud = control_cloud
    s3, key = cloud.client("s3"), "incoming/dup.libsvm"
    body = small_mnist.train.read_bytes()
    s3.put_object(Bucket=cloud.data_bucket, Key=key, Body=body)
    s3.put_object(Bucket=cloud.data_bucket, Key=key, Body=body)
    runs = _settle(cloud, key, expected=1)
    assert len(runs) == 1
    s3.put_object(Bucket=cloud.data_bucket, Key=key, Body=body + body.splitlines(keepends=True)[0])
    runs_after = _settle(cloud, key, expected=2)
    assert len(runs_after) == 2
    assert all(run["status"] == "SUCCEEDED" for run in runs_after)
    reliability_log.append(
        {
            "kind": "duplicate",
            "case": "identical re-upload, then changed content",
            "executions": len(runs_after),
        }
    )


def test_same_event_delivered_twice_starts_one_run(
    control_cloud: Any, small_mnist: SmallMnist, reliability_log: list[dict[str, Any]]
) -> None:
    cloud = control_cloud
    s3, key = cloud.client("s3"), "incoming/twice.libsvm"
    put = s3.put_object(Bucket=cloud.data_bucket, Key=key, Body=small_mnist.train.read_bytes())
    _settle(cloud, key, expected=1)
    event = {
        "version": "0",
        "id": "replayed-event",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": cloud.account,
        "region": cloud.region,
        "time": "2026-01-01T00:00:00Z",
        "resources": [f"arn:aws:s3:::{cloud.data_bucket}"],
        "detail": {
            "bucket": {"name": cloud.data_bucket},
            "object": {"key": key, "etag": put["ETag"].strip('"'), "version-id": put.get("VersionId")},
        },
    }
    trigger = cloud.deployment.function("TriggerFunction").name
    for _ in range(2):
        answer = cloud.client("lambda").invoke(FunctionName=trigger, Payload=json.dumps(event).encode())
        assert "FunctionError" not in answer, answer["Payload"].read()
    runs = _settle(cloud, key, expected=1)
    assert len(runs) == 1
    reliability_log.append(
        {"kind": "duplicate", "case": "same event delivered 3 times", "executions": len(runs)}
    )


def test_parallel_uploads_run_separately_with_disjoint_resources(
    control_cloud: Any, small_mnist: SmallMnist, reliability_log: list[dict[str, Any]]
) -> None:
    cloud = control_cloud
    s3 = cloud.client("s3")
    lines = small_mnist.train.read_bytes().splitlines(keepends=True)
    keys = [f"incoming/parallel-{i}.libsvm" for i in range(4)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=cloud.data_bucket, Key=key, Body=b"".join(lines[i:]))
    runs = [run for key in keys for run in _settle(cloud, key, expected=1)]
    assert len(runs) == len(keys)
    assert all(run["status"] == "SUCCEEDED" for run in runs), [run["status"] for run in runs]
    assert len({run["name"] for run in runs}) == len(keys)
    # CREATE_ON_CONSTRUCT keeps each run's endpoints for clustering: they must not overlap
    held = [set(flatten_resources(cloud.list_resources_of_run(run["name"]))) for run in runs]
    assert all(held), held
    assert sum(len(names) for names in held) == len(set().union(*held))
    for run in runs:
        assert cleanup_by_run_id(run["name"], bucket=cloud.data_bucket, endpoint_url=cloud.endpoint_url) == []
        assert not flatten_resources(cloud.list_resources_of_run(run["name"]))
    reliability_log.append(
        {
            "kind": "concurrency",
            "case": f"{len(keys)} uploads at once",
            "executions": len(runs),
            "succeeded": sum(run["status"] == "SUCCEEDED" for run in runs),
        }
    )
