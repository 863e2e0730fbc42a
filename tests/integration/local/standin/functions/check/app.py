"""Stand-in status check: done on the second poll (counted in S3 so every attempt is visible)."""

import os

import boto3


def lambda_handler(event, context):
    s3 = boto3.client("s3")
    key = f"runs/{event['run_id']}/polls/{context.aws_request_id}"
    s3.put_object(Bucket=os.environ["DATA_BUCKET"], Key=key, Body=b"")
    polls = s3.list_objects_v2(Bucket=os.environ["DATA_BUCKET"], Prefix=f"runs/{event['run_id']}/polls/")
    return {"done": polls.get("KeyCount", 0) >= 2}
