"""Delete what a run created, by name, treating "not found" as done; then check nothing is left.

Used by the state machine's cleanup states, by `clusterflow cleanup --run-id` and by the local cloud.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from clusterflow.app.closure import close_run
from clusterflow.app.endpoints import (
    delete_endpoint_resources,
    endpoint_names,
    remaining_endpoint_resources,
)
from clusterflow.app.faults import ResourceNotReady, call_aws
from clusterflow.app.names import DEFAULT_PREFIX, run_names, staging_prefix
from clusterflow.app.spark import EMR_RUNNING, GLUE_RUNNING
from clusterflow.app.storage import count_prefix, delete_prefix, now_iso, update_manifest
from clusterflow.app.training import stop_if_in_progress


@dataclass
class CleanupReport:
    run_id: str
    deleted: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    staging_objects_deleted: int = 0
    leaked: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def stop_training_jobs(sagemaker: Any, run_id: str, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Stop the run's training jobs that are still in progress (they bill until they end)."""
    names = run_names(run_id, prefix)
    return [
        f"training-job/{job_name}"
        for job_name in (names.pca_training_job, names.kmeans_training_job)
        if stop_if_in_progress(sagemaker, job_name)
    ]


@dataclass(frozen=True)
class SparkTargets:
    """Where the run's Spark job runs may still be going: the Glue job and/or the EMR application."""

    glue: Any = None
    emr: Any = None
    glue_job_name: str = ""
    emr_application_id: str = ""


def stop_spark_runs(spark: SparkTargets, run_id: str, prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Stop the run's Glue / EMR Serverless job runs still going (a failed branch leaves them running)."""
    stopped: list[str] = []
    if spark.glue is not None and spark.glue_job_name:
        marker = f"/runs/{run_id}/"
        runs = call_aws("glue", lambda: spark.glue.get_job_runs(JobName=spark.glue_job_name))["JobRuns"]
        active = [
            run["Id"]
            for run in runs
            if run.get("JobRunState") in GLUE_RUNNING
            and any(marker in str(value) for value in (run.get("Arguments") or {}).values())
        ]
        if active:
            call_aws(
                "glue", lambda: spark.glue.batch_stop_job_run(JobName=spark.glue_job_name, JobRunIds=active)
            )
            stopped += [f"glue-job-run/{run_id_}" for run_id_ in active]
    if spark.emr is not None and spark.emr_application_id:
        names = run_names(run_id, prefix)
        ours = {names.prepare_job_run, names.project_job_run}
        listed = call_aws(
            "emr-serverless",
            lambda: spark.emr.list_job_runs(
                applicationId=spark.emr_application_id, states=sorted(EMR_RUNNING)
            ),
        )["jobRuns"]
        for run in listed:
            if run.get("name") in ours:
                _cancel_emr(spark, run["id"])
                stopped.append(f"emr-job-run/{run['id']}")
    return stopped


def _cancel_emr(spark: SparkTargets, job_run_id: str) -> None:
    call_aws(
        "emr-serverless",
        lambda: spark.emr.cancel_job_run(applicationId=spark.emr_application_id, jobRunId=job_run_id),
    )


def cleanup_run(
    s3: Any,
    sagemaker: Any,
    *,
    bucket: str,
    run_id: str,
    delete_endpoints: bool = True,
    error: str | None = None,
    prefix: str = DEFAULT_PREFIX,
    spark: SparkTargets | None = None,
    close: bool = False,
) -> CleanupReport:
    """Stop the run's jobs still going, delete its staging data and (unless kept) its endpoints,
    configs and models. `close` first marks the run closed, so a state still in flight creates nothing
    after this looked (`clusterflow.app.closure`)."""
    report = CleanupReport(run_id=run_id)
    names = run_names(run_id, prefix)
    if close:
        close_run(s3, bucket, run_id, error or "cleanup requested")
    if spark is not None:
        report.stopped += stop_spark_runs(spark, run_id, prefix)
    if delete_endpoints:
        report.stopped += stop_training_jobs(sagemaker, run_id, prefix)
        for algorithm in ("pca", "kmeans"):
            report.deleted += delete_endpoint_resources(sagemaker, endpoint_names(names, algorithm))
    report.staging_objects_deleted = delete_prefix(s3, bucket, staging_prefix(run_id))
    report.leaked = leaked_resources(
        s3, sagemaker, bucket=bucket, run_id=run_id, endpoints=delete_endpoints, prefix=prefix
    )
    changes: dict[str, Any] = {"cleanup": report.as_dict() | {"at": now_iso()}}
    if error is not None:
        changes |= {"status": "FAILED", "error": error, "finished_at": now_iso()}
    update_manifest(s3, bucket, run_id, changes)
    if report.leaked:
        # An endpoint still Creating cannot always be deleted at once: the state retries this.
        raise ResourceNotReady(f"cleanup of run {run_id} left {', '.join(report.leaked)}")
    return report


def leaked_resources(
    s3: Any, sagemaker: Any, *, bucket: str, run_id: str, endpoints: bool = True, prefix: str = DEFAULT_PREFIX
) -> list[str]:
    """Endpoints, configs and models of the run that still exist, and staging objects left."""
    names = run_names(run_id, prefix)
    leaked = []
    if endpoints:
        for algorithm in ("pca", "kmeans"):
            leaked += remaining_endpoint_resources(sagemaker, endpoint_names(names, algorithm))
    staged = count_prefix(s3, bucket, staging_prefix(run_id))
    if staged:
        leaked.append(f"s3://{bucket}/{staging_prefix(run_id)} ({staged} objects)")
    return leaked


def error_message(error: dict[str, Any] | None) -> str | None:
    """One line from a Step Functions Catch result: `{"Error": name, "Cause": lambda error JSON}`."""
    if not error:
        return None
    name = str(error.get("Error", "Error"))
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
    except (TypeError, ValueError):
        parsed = None
    message = parsed.get("errorMessage", cause) if isinstance(parsed, dict) else cause
    return f"{name}: {message}" if message else name
