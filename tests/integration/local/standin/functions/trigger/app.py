"""Stand-in trigger: starts one execution per object version (deterministic name)."""

import hashlib
import json
import os

import boto3


def lambda_handler(event, context):
    detail = event["detail"]
    bucket, key = detail["bucket"]["name"], detail["object"]["key"]
    version = detail["object"].get("version-id", "null")
    name = "run-" + hashlib.sha256(f"{bucket}/{key}/{version}".encode()).hexdigest()[:16]
    client = boto3.client("stepfunctions")
    payload = {
        "bucket": bucket,
        "key": key,
        "version_id": version,
        "parameters": {"poll_seconds": int(os.environ["POLL_SECONDS"])},
    }
    try:
        arn = client.start_execution(
            stateMachineArn=os.environ["STATE_MACHINE_ARN"], name=name, input=json.dumps(payload)
        )["executionArn"]
    except client.exceptions.ExecutionAlreadyExists:
        arn = None
    return {"execution_arn": arn, "name": name}
