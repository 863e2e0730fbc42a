"""Scheduled reaper: delete this stack's endpoints idle longer than the TTL, then configs and models.

Idle time comes from the `clusterflow:last-invoked` tag the clustering Lambda refreshes, else from
the endpoint's last modification (an endpoint nobody ever called).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from clusterflow.app.config import Settings
from clusterflow.app.endpoints import EndpointNames, delete_endpoint_resources, is_not_found
from clusterflow.app.faults import call_aws
from clusterflow.app.observability import MetricUnit, logger, metrics
from clusterflow.app.tags import LAST_INVOKED_TAG, STACK_TAG

BUSY_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})


def _tags(sagemaker: Any, arn: str) -> dict[str, str]:
    listed = call_aws("sagemaker", lambda: sagemaker.list_tags(ResourceArn=arn))
    return {tag["Key"]: tag["Value"] for tag in listed.get("Tags", [])}


def last_used(endpoint: dict[str, Any], tags: dict[str, str]) -> datetime:
    stamp = tags.get(LAST_INVOKED_TAG)
    if stamp:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    moment: datetime = endpoint.get("LastModifiedTime") or endpoint["CreationTime"]
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _endpoint_resources(sagemaker: Any, endpoint_name: str) -> list[EndpointNames]:
    """The config and every model behind an endpoint, read before the endpoint is deleted."""
    config = call_aws("sagemaker", lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name))[
        "EndpointConfigName"
    ]
    try:
        variants = call_aws(
            "sagemaker", lambda: sagemaker.describe_endpoint_config(EndpointConfigName=config)
        )["ProductionVariants"]
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        variants = []
    return [
        EndpointNames(model=variant["ModelName"], config=config, endpoint=endpoint_name)
        for variant in variants
    ]


def reap_idle_endpoints(sagemaker: Any, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    ttl = timedelta(minutes=settings.endpoint_idle_ttl_minutes)
    deleted: list[str] = []
    kept: list[str] = []
    paginator = sagemaker.get_paginator("list_endpoints")
    prefix = f"{settings.resource_prefix}-"
    for page in call_aws("sagemaker", lambda: list(paginator.paginate(NameContains=prefix))):
        for endpoint in page.get("Endpoints", []):
            name = endpoint["EndpointName"]
            if not name.startswith(prefix):
                continue
            tags = _tags(sagemaker, endpoint["EndpointArn"])
            if tags.get(STACK_TAG) != settings.stack_name:
                continue
            if endpoint["EndpointStatus"] in BUSY_STATUSES or now - last_used(endpoint, tags) < ttl:
                kept.append(name)
                continue
            for resources in _endpoint_resources(sagemaker, name):
                deleted += [
                    item for item in delete_endpoint_resources(sagemaker, resources) if item not in deleted
                ]
            logger.info("reaped idle endpoint", extra={"endpoint": name})
    metrics.add_metric(name="EndpointsReaped", unit=MetricUnit.Count, value=len(deleted))
    return {"deleted": deleted, "kept": kept}
