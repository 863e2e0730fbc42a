"""SageMaker models, endpoint configs and endpoints: create, poll, delete (endpoint -> config -> model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from clusterflow.app.faults import EndpointFailed, ResourceNotReady, call_aws, error_code
from clusterflow.app.images import Algorithm, image_uri
from clusterflow.app.names import RunNames
from clusterflow.app.tags import resource_tags


@dataclass(frozen=True)
class EndpointNames:
    model: str
    config: str
    endpoint: str


def endpoint_names(names: RunNames, algorithm: Algorithm) -> EndpointNames:
    if algorithm == "pca":
        return EndpointNames(names.pca_model, names.pca_endpoint_config, names.pca_endpoint)
    return EndpointNames(names.kmeans_model, names.kmeans_endpoint_config, names.kmeans_endpoint)


def is_not_found(exc: ClientError) -> bool:
    """SageMaker answers a missing endpoint/config/model with ValidationException "Could not find ..."."""
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) in ("ResourceNotFound", "ValidationException") and (
        "Could not find" in message or "does not exist" in message or "not found" in message.lower()
    )


def _already_exists(exc: ClientError) -> bool:
    message = str(exc.response.get("Error", {}).get("Message", ""))
    return error_code(exc) in ("ValidationException", "ResourceInUse") and (
        "already exist" in message or "Cannot create already existing" in message
    )


def create_endpoint(
    sagemaker: Any,
    *,
    algorithm: Algorithm,
    names: EndpointNames,
    model_data_url: str,
    role_arn: str,
    region: str,
    instance_type: str,
    instance_count: int,
    run_id: str,
    stack_name: str,
) -> str:
    """Create model, config and endpoint, each idempotently (a retry finds its own resources)."""
    tags = resource_tags(run_id, stack_name)
    steps = (
        lambda: sagemaker.create_model(
            ModelName=names.model,
            PrimaryContainer={"Image": image_uri(algorithm, region), "ModelDataUrl": model_data_url},
            ExecutionRoleArn=role_arn,
            Tags=tags,
        ),
        lambda: sagemaker.create_endpoint_config(
            EndpointConfigName=names.config,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": names.model,
                    "InitialInstanceCount": instance_count,
                    "InstanceType": instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
            Tags=tags,
        ),
        lambda: sagemaker.create_endpoint(
            EndpointName=names.endpoint, EndpointConfigName=names.config, Tags=tags
        ),
    )
    for step in steps:
        try:
            call_aws("sagemaker", step)
        except ClientError as exc:
            if _already_exists(exc):
                continue
            if is_not_found(exc):
                # The config or model just created is not visible yet: retried with backoff.
                raise ResourceNotReady(f"creating endpoint {names.endpoint}: {exc}") from exc
            raise
    return names.endpoint


def endpoint_status(sagemaker: Any, endpoint_name: str) -> str | None:
    """The endpoint's status, or None when it does not exist."""
    try:
        described = call_aws("sagemaker", lambda: sagemaker.describe_endpoint(EndpointName=endpoint_name))
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return str(described["EndpointStatus"])


def endpoint_ready(sagemaker: Any, endpoint_name: str) -> dict[str, Any]:
    """Poll result: done once InService; Failed raises; missing or Creating is not done yet."""
    status = endpoint_status(sagemaker, endpoint_name)
    if status == "Failed":
        described = sagemaker.describe_endpoint(EndpointName=endpoint_name)
        reason = described.get("FailureReason", "no reason given")
        raise EndpointFailed(f"endpoint {endpoint_name} failed: {reason}")
    return {"done": status == "InService", "status": status or "NotCreated"}


def _delete(call: Any) -> bool:
    """Run one delete; True if it deleted, False if it was already gone."""
    try:
        call_aws("sagemaker", call)
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise
    return True


def delete_endpoint_resources(sagemaker: Any, names: EndpointNames) -> list[str]:
    """Delete endpoint, then its config, then the model; "not found" is done. Returns what was deleted."""
    deleted: list[str] = []
    if _delete(lambda: sagemaker.delete_endpoint(EndpointName=names.endpoint)):
        deleted.append(f"endpoint/{names.endpoint}")
    if _delete(lambda: sagemaker.delete_endpoint_config(EndpointConfigName=names.config)):
        deleted.append(f"endpoint-config/{names.config}")
    if _delete(lambda: sagemaker.delete_model(ModelName=names.model)):
        deleted.append(f"model/{names.model}")
    return deleted


def remaining_endpoint_resources(sagemaker: Any, names: EndpointNames) -> list[str]:
    """What still exists of one endpoint's resources (for the leak check)."""
    probes = (
        (f"endpoint/{names.endpoint}", lambda: sagemaker.describe_endpoint(EndpointName=names.endpoint)),
        (
            f"endpoint-config/{names.config}",
            lambda: sagemaker.describe_endpoint_config(EndpointConfigName=names.config),
        ),
        (f"model/{names.model}", lambda: sagemaker.describe_model(ModelName=names.model)),
    )
    remaining = []
    for label, probe in probes:
        try:
            call_aws("sagemaker", probe)
        except ClientError as exc:
            if is_not_found(exc):
                continue
            raise
        remaining.append(label)
    return remaining
