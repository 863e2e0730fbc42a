"""Stand-in work step: writes a marker object under runs/<run_id>/staging/ and reports the environment."""

import json
import os

import boto3


def lambda_handler(event, context):
    bucket = os.environ["DATA_BUCKET"]
    key = f"runs/{event['run_id']}/staging/marker.json"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(event).encode())
    if event.get("input", {}).get("parameters", {}).get("explode"):
        raise ValueError("asked to explode")
    return {"marker": key, "function": context.function_name, "role": os.environ["SAGEMAKER_ROLE_ARN"]}
