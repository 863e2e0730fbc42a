"""TriggerFunction: S3 Object Created (EventBridge) -> one Step Functions execution per object."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools.utilities.typing import LambdaContext

from clusterflow.app import trigger
from clusterflow.app.config import settings
from clusterflow.app.observability import logger, metrics, tracer

settings()  # validate the environment once, at cold start
STEPFUNCTIONS = boto3.client("stepfunctions")


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Any:
    return trigger.start_runs(STEPFUNCTIONS, event=event, settings=settings())
