"""What a run still holds in the local cloud: the list a clean run must leave empty.

A resource belongs to a run when it carries the tag `clusterflow:run-id=<run_id>` or its name starts with
the run's resource base (`clusterflow.app.names.resource_base`). Only what costs or clutters counts:
endpoints, endpoint configs, models, training jobs still InProgress, Glue/EMR Serverless runs still
going, and objects under `runs/<run_id>/staging/`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clusterflow.local.cloud import LocalCloud

RUN_ID_TAG = "clusterflow:run-id"
_ACTIVE_SPARK_STATES = (
    "STARTING",
    "RUNNING",
    "STOPPING",
    "WAITING",
    "SUBMITTED",
    "PENDING",
    "SCHEDULED",
    "QUEUED",
)


def _resource_base(run_id: str, prefix: str | None) -> str:
    try:
        from clusterflow.app.names import resource_base
    except ImportError:  # the application package is optional for the local cloud's own tests
        return run_id
    return resource_base(run_id, prefix) if prefix else resource_base(run_id)


def _tag_value(tags: Iterable[Any] | None, key: str) -> str | None:
    for tag in tags or []:
        if isinstance(tag, dict) and tag.get("Key") == key:
            return str(tag.get("Value"))
    return None


def _belongs(name: str, tags: Iterable[Any] | None, run_id: str, base: str) -> bool:
    return _tag_value(tags, RUN_ID_TAG) == run_id or name.startswith(base) or name.startswith(run_id)


def resources_of_run(cloud: LocalCloud, run_id: str) -> dict[str, list[str]]:
    from moto.sagemaker.models import sagemaker_backends

    prefixes = {f.environment.get("RESOURCE_PREFIX") for f in cloud.deployment.functions.values()} - {None}
    base = _resource_base(run_id, next(iter(prefixes)) if len(prefixes) == 1 else None)
    backend = sagemaker_backends[cloud.account][cloud.region]
    found: dict[str, list[str]] = {
        "endpoints": sorted(n for n, e in backend.endpoints.items() if _belongs(n, e.tags, run_id, base)),
        "endpoint_configs": sorted(
            n for n, c in backend.endpoint_configs.items() if _belongs(n, c.tags, run_id, base)
        ),
        "models": sorted(n for n, m in backend._models.items() if _belongs(n, m.tags, run_id, base)),
        "training_jobs_in_progress": sorted(
            n
            for n, j in backend.training_jobs.items()
            if j.training_job_status in ("InProgress", "Stopping") and _belongs(n, j.tags, run_id, base)
        ),
        "staging_objects": _staging_objects(cloud, run_id),
        "spark_runs_in_progress": _spark_runs(cloud, run_id),
    }
    return found


def _staging_objects(cloud: LocalCloud, run_id: str) -> list[str]:
    s3 = cloud.client("s3")
    keys: list[str] = []
    for bucket in cloud.deployment.buckets.values():
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket.name, Prefix=f"runs/{run_id}/staging/"):
            keys.extend(f"s3://{bucket.name}/{item['Key']}" for item in page.get("Contents", []))
    return keys


def _spark_runs(cloud: LocalCloud, run_id: str) -> list[str]:
    from moto.emrserverless.models import emrserverless_backends
    from moto.glue.models import glue_backends

    running: list[str] = []
    glue = glue_backends[cloud.account][cloud.region]
    for job_name, job in glue.jobs.items():
        for job_run in job.job_runs:
            mentions = any(run_id in str(value) for value in (job_run.arguments or {}).values())
            if mentions and _state_of(job_run) in _ACTIVE_SPARK_STATES:
                running.append(f"glue:{job_name}/{job_run.job_run_id}")
    emr = emrserverless_backends[cloud.account][cloud.region]
    for application_id, runs in emr.job_runs.items():
        for emr_run in runs:
            mentions = run_id in str(emr_run.job_driver) or run_id in str(emr_run.name or "")
            if mentions and emr_run.state in _ACTIVE_SPARK_STATES:
                running.append(f"emr-serverless:{application_id}/{emr_run.id}")
    return running


def _state_of(job_run: Any) -> str:
    """A Glue run's state without advancing moto's managed-state clock (reading `.status` would)."""
    return str(job_run._status)
