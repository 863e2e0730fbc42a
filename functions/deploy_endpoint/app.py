"""DeployEndpointFunction: creates the model, endpoint config and endpoint of one algorithm."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterflow.app import pipeline
from clusterflow.app.config import settings
from clusterflow.app.observability import logger, metrics, tracer

settings()  # validate the environment once, at cold start
S3 = boto3.client("s3")
SAGEMAKER = boto3.client("sagemaker")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return pipeline.deploy_endpoint(S3, SAGEMAKER, event, settings())
