"""The Lambda environment and a run's parameters, validated once per cold start by pydantic models."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clusterflow.app.faults import ConfigurationError
from clusterflow.app.names import DEFAULT_PREFIX, PREFIX_MAX, PREFIX_PATTERN


class EndpointPolicy(StrEnum):
    CREATE_ON_CONSTRUCT = "CREATE_ON_CONSTRUCT"
    CREATE_ON_TRANSFORM = "CREATE_ON_TRANSFORM"
    DO_NOT_CREATE = "DO_NOT_CREATE"


class ProjectionEngine(StrEnum):
    ARTIFACT = "artifact"
    ENDPOINT = "endpoint"


class SparkEngine(StrEnum):
    GLUE = "glue"
    EMR_SERVERLESS = "emr-serverless"


class Settings(BaseModel):
    """Environment of every clusterflow Lambda; each function reads the fields it needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    data_bucket: str = Field("", alias="DATA_BUCKET")
    state_machine_arn: str = Field("", alias="STATE_MACHINE_ARN")
    sagemaker_role_arn: str = Field("", alias="SAGEMAKER_ROLE_ARN")
    spark_engine: SparkEngine = Field(SparkEngine.GLUE, alias="SPARK_ENGINE")
    glue_job_name: str = Field("", alias="GLUE_JOB_NAME")
    emr_application_id: str = Field("", alias="EMR_APPLICATION_ID")
    emr_job_role_arn: str = Field("", alias="EMR_JOB_ROLE_ARN")
    spark_script_uri: str = Field("", alias="SPARK_SCRIPT_URI")
    spark_py_files_uri: str = Field("", alias="SPARK_PY_FILES_URI")
    stack_name: str = Field("clusterflow", alias="STACK_NAME")
    resource_prefix: str = Field(
        DEFAULT_PREFIX, alias="RESOURCE_PREFIX", pattern=PREFIX_PATTERN, max_length=PREFIX_MAX
    )
    region: str = Field("us-east-1", alias="AWS_REGION")
    k: int = Field(10, alias="K", gt=1)
    num_components: int = Field(50, alias="NUM_COMPONENTS", gt=0)
    feature_dim: int = Field(784, alias="FEATURE_DIM", gt=0)
    endpoint_policy: EndpointPolicy = Field(EndpointPolicy.CREATE_ON_TRANSFORM, alias="ENDPOINT_POLICY")
    projection_engine: ProjectionEngine = Field(ProjectionEngine.ARTIFACT, alias="PROJECTION_ENGINE")
    pca_instance_type: str = Field("ml.m5.large", alias="PCA_INSTANCE_TYPE")
    kmeans_instance_type: str = Field("ml.m5.large", alias="KMEANS_INSTANCE_TYPE")
    training_instance_count: int = Field(1, alias="TRAINING_INSTANCE_COUNT", ge=1)
    endpoint_instance_type: str = Field("ml.t2.medium", alias="ENDPOINT_INSTANCE_TYPE")
    endpoint_instance_count: int = Field(1, alias="ENDPOINT_INSTANCE_COUNT", ge=1)
    poll_seconds: int = Field(30, alias="POLL_SECONDS", ge=0, le=3600)
    max_poll_attempts: int = Field(240, alias="MAX_POLL_ATTEMPTS", ge=1)
    max_upload_bytes: int = Field(2 * 1024**3, alias="MAX_UPLOAD_BYTES", gt=0)
    endpoint_idle_ttl_minutes: int = Field(60, alias="ENDPOINT_IDLE_TTL_MINUTES", gt=0)
    max_request_images: int = Field(100, alias="MAX_REQUEST_IMAGES", gt=0)
    clustering_mode: str = Field("auto", alias="CLUSTERING_MODE", pattern="^(auto|endpoint|artifact)$")

    def require(self, field: str) -> str:
        value = getattr(self, field)
        if not value:
            alias = type(self).model_fields[field].alias
            raise ConfigurationError(f"environment variable {alias} is not set for this function")
        return str(value)


def settings_from(environ: Mapping[str, str]) -> Settings:
    try:
        return Settings.model_validate(dict(environ))
    except ValidationError as exc:
        raise ConfigurationError(f"invalid Lambda environment: {_describe(exc)}") from exc


@cache
def settings() -> Settings:
    """Read and validate the environment once per container (cold start)."""
    return settings_from(os.environ)


class RunParameters(BaseModel):
    """Parameters of one run: the execution input's `parameters`, defaults from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(gt=1)
    num_components: int = Field(gt=0)
    feature_dim: int = Field(gt=0)
    endpoint_policy: EndpointPolicy
    projection_engine: ProjectionEngine
    spark_engine: SparkEngine
    poll_seconds: int = Field(ge=0, le=3600)
    max_poll_attempts: int = Field(ge=1)
    pca_instance_type: str
    kmeans_instance_type: str
    training_instance_count: int = Field(ge=1)
    endpoint_instance_type: str
    endpoint_instance_count: int = Field(ge=1)
    pca_mini_batch_size: int = Field(500, gt=0)
    kmeans_mini_batch_size: int = Field(500, gt=0)
    kmeans_epochs: int = Field(1, gt=0)
    max_runtime_seconds: int = Field(86400, gt=0)
    max_upload_bytes: int = Field(gt=0)

    @classmethod
    def resolve(cls, given: Mapping[str, Any] | None, defaults: Settings) -> RunParameters:
        """Fill what the execution input leaves out from the environment; refuse unknown names."""
        base: dict[str, Any] = {
            "k": defaults.k,
            "num_components": defaults.num_components,
            "feature_dim": defaults.feature_dim,
            "endpoint_policy": defaults.endpoint_policy,
            "projection_engine": defaults.projection_engine,
            "spark_engine": defaults.spark_engine,
            "poll_seconds": defaults.poll_seconds,
            "max_poll_attempts": defaults.max_poll_attempts,
            "pca_instance_type": defaults.pca_instance_type,
            "kmeans_instance_type": defaults.kmeans_instance_type,
            "training_instance_count": defaults.training_instance_count,
            "endpoint_instance_type": defaults.endpoint_instance_type,
            "endpoint_instance_count": defaults.endpoint_instance_count,
            "max_upload_bytes": defaults.max_upload_bytes,
        }
        base.update({key: value for key, value in (given or {}).items() if value is not None})
        try:
            params = cls.model_validate(base)
        except ValidationError as exc:
            raise ConfigurationError(f"invalid run parameters: {_describe(exc)}") from exc
        if params.num_components > params.feature_dim:
            raise ConfigurationError(
                f"invalid run parameters: num_components {params.num_components} exceeds "
                f"feature_dim {params.feature_dim}"
            )
        return params


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
    )
