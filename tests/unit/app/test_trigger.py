"""S3 Object Created -> one execution per object content; duplicates are success, not new runs."""

from __future__ import annotations

import json
from typing import Any

from clusterflow.app import trigger

from .conftest import Aws, load_event

ASL = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def state_machine(aws: Aws) -> str:
    role = "arn:aws:iam::123456789012:role/sfn"
    return str(
        aws.stepfunctions.create_state_machine(name="pipeline", definition=ASL, roleArn=role)[
            "stateMachineArn"
        ]
    )


def eventbridge_event(bucket: str, key: str, etag: str, version: str) -> dict[str, Any]:
    event = load_event("trigger")
    event["detail"]["bucket"]["name"] = bucket
    event["detail"]["object"] |= {"key": key, "etag": etag, "version-id": version}
    return event


def test_one_execution_per_object_content(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(STATE_MACHINE_ARN=state_machine(aws), K="12")
    first = eventbridge_event(aws.bucket, "incoming/train.libsvm", "etag-1", "v1")
    (started,) = trigger.start_runs(aws.stepfunctions, event=first, settings=settings)
    assert started["status"] == "started"
    # While it runs, StartExecution with the same name and input answers the running execution.
    (while_running,) = trigger.start_runs(aws.stepfunctions, event=first, settings=settings)
    assert while_running["execution_arn"] == started["execution_arn"]
    aws.stepfunctions.stop_execution(executionArn=started["execution_arn"])
    (again,) = trigger.start_runs(aws.stepfunctions, event=first, settings=settings)
    assert again == {"key": "incoming/train.libsvm", "run_id": started["run_id"], "status": "duplicate"}
    same_bytes = eventbridge_event(aws.bucket, "incoming/train.libsvm", "etag-1", "v2")
    assert (
        trigger.start_runs(aws.stepfunctions, event=same_bytes, settings=settings)[0]["status"] == "duplicate"
    )
    changed = eventbridge_event(aws.bucket, "incoming/train.libsvm", "etag-2", "v3")
    assert trigger.start_runs(aws.stepfunctions, event=changed, settings=settings)[0]["status"] == "started"

    executions = aws.stepfunctions.list_executions(stateMachineArn=settings.state_machine_arn)["executions"]
    assert len(executions) == 2
    described = aws.stepfunctions.describe_execution(executionArn=started["execution_arn"])
    document = json.loads(described["input"])
    assert document["bucket"] == aws.bucket and document["key"] == "incoming/train.libsvm"
    assert document["version_id"] == "v1"
    assert (
        document["parameters"]["k"] == 12
        and document["parameters"]["endpoint_policy"] == "CREATE_ON_TRANSFORM"
    )


def test_s3_notification_records_are_url_decoded_and_other_keys_ignored(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(STATE_MACHINE_ARN=state_machine(aws))
    event = {
        "Records": [
            {
                "s3": {
                    "bucket": {"name": aws.bucket},
                    "object": {"key": "incoming/my+digits.libsvm.gz", "eTag": "e1"},
                }
            },
            {"s3": {"bucket": {"name": aws.bucket}, "object": {"key": "incoming/notes.txt", "eTag": "e2"}}},
            {"s3": {"bucket": {"name": aws.bucket}, "object": {"key": "rejected/x.libsvm", "eTag": "e3"}}},
        ]
    }
    results = trigger.start_runs(aws.stepfunctions, event=event, settings=settings)
    assert [r["status"] for r in results] == ["started", "ignored", "ignored"]
    assert results[0]["key"] == "incoming/my digits.libsvm.gz"
