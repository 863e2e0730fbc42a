"""Tags every clusterflow resource carries; the reaper and cleanup find resources by them."""

from __future__ import annotations

RUN_ID_TAG = "clusterflow:run-id"
STACK_TAG = "clusterflow:stack"
LAST_INVOKED_TAG = "clusterflow:last-invoked"


def resource_tags(run_id: str, stack_name: str) -> list[dict[str, str]]:
    """SageMaker's tag list shape."""
    return [{"Key": RUN_ID_TAG, "Value": run_id}, {"Key": STACK_TAG, "Value": stack_name}]


def tag_map(run_id: str, stack_name: str) -> dict[str, str]:
    """EMR Serverless' tag map shape."""
    return {RUN_ID_TAG: run_id, STACK_TAG: stack_name}
