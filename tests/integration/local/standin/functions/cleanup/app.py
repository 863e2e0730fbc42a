"""Stand-in cleanup: deletes the run's staging objects."""

import os

import boto3


def lambda_handler(event, context):
    s3 = boto3.client("s3")
    bucket = os.environ["DATA_BUCKET"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{event['run_id']}/staging/")
    for item in listed.get("Contents", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"])
    return {"deleted": listed.get("KeyCount", 0)}
