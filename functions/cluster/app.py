"""ClusterFunction (Function URL, AWS_IAM): closest cluster and distance per image."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterflow.app import clustering
from clusterflow.app.config import settings
from clusterflow.app.observability import logger, metrics, tracer

settings()  # validate the environment once, at cold start
CLIENTS = clustering.Clients(
    s3=boto3.client("s3"),
    sagemaker=boto3.client("sagemaker"),
    runtime=boto3.client("sagemaker-runtime"),
)


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return clustering.handle_request(CLIENTS, event, settings())
