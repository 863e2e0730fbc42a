"""StartSparkJobFunction: starts the Spark prepare or project job on Glue or EMR Serverless."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterflow.app import pipeline
from clusterflow.app.config import settings
from clusterflow.app.observability import logger, metrics, tracer

settings()  # validate the environment once, at cold start
S3 = boto3.client("s3")
GLUE = boto3.client("glue")
EMR_SERVERLESS = boto3.client("emr-serverless")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return pipeline.start_spark_job(S3, GLUE, EMR_SERVERLESS, event, settings())
