"""The Spark step (`spark_jobs/project.py`) on Glue 5.0 or EMR Serverless: start a run, poll it.

Arguments go the Glue way (`--key value`); on EMR Serverless the same pairs are the entry point's
arguments, so the script parses one form.
"""

from __future__ import annotations

from typing import Any, Literal

from clusterflow.app.config import ProjectionEngine, RunParameters, Settings, SparkEngine
from clusterflow.app.faults import SparkJobFailed, call_aws
from clusterflow.app.names import projections_prefix, s3_uri
from clusterflow.app.tags import tag_map
from clusterflow.app.training import channel_prefix

Mode = Literal["prepare", "project"]

GLUE_RUNNING = frozenset({"STARTING", "RUNNING", "WAITING", "STOPPING"})
GLUE_FAILED = frozenset({"FAILED", "ERROR", "TIMEOUT", "STOPPED", "EXPIRED"})
EMR_RUNNING = frozenset({"SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING"})
EMR_FAILED = frozenset({"FAILED", "CANCELLED"})


def job_arguments(
    *,
    mode: Mode,
    run: dict[str, Any],
    params: RunParameters,
    region: str,
    pca_model_uri: str | None = None,
) -> dict[str, str]:
    """The `--key value` arguments of `spark_jobs/project.py` for one mode of one run."""
    bucket, run_id = run["bucket"], run["run_id"]
    arguments = {
        "--mode": mode,
        "--input_uri": run["input_uri"],
        "--num_features": str(params.feature_dim),
    }
    if mode == "prepare":
        arguments["--output_uri"] = s3_uri(bucket, channel_prefix(run_id, "pca"))
        return arguments
    if not pca_model_uri:
        raise SparkJobFailed("the project step needs the PCA model artifact URI")
    arguments |= {
        "--output_uri": s3_uri(bucket, channel_prefix(run_id, "kmeans")),
        "--pca_model_uri": pca_model_uri,
        "--projections_uri": s3_uri(bucket, projections_prefix(run_id)),
        "--projection_engine": params.projection_engine.value,
    }
    if params.projection_engine is ProjectionEngine.ENDPOINT:
        arguments |= {"--pca_endpoint_name": run["names"]["pca_endpoint"], "--region": region}
    return arguments


def start_spark_job(
    *,
    glue: Any,
    emr: Any,
    settings: Settings,
    mode: Mode,
    run: dict[str, Any],
    params: RunParameters,
    pca_model_uri: str | None = None,
) -> dict[str, Any]:
    """Start the run on the run's engine; returns the poll descriptor the state machine carries."""
    arguments = job_arguments(
        mode=mode, run=run, params=params, region=settings.region, pca_model_uri=pca_model_uri
    )
    job_name = run["names"]["prepare_job_run" if mode == "prepare" else "project_job_run"]
    if params.spark_engine is SparkEngine.GLUE:
        glue_job = settings.require("glue_job_name")
        started = call_aws("glue", lambda: glue.start_job_run(JobName=glue_job, Arguments=arguments))
        return _descriptor("glue", mode, job_name=glue_job, job_run_id=started["JobRunId"])
    application_id = settings.require("emr_application_id")
    entry_arguments = [item for pair in arguments.items() for item in pair]
    py_files = settings.require("spark_py_files_uri")
    started = call_aws(
        "emr-serverless",
        lambda: emr.start_job_run(
            applicationId=application_id,
            clientToken=job_name,
            executionRoleArn=settings.require("emr_job_role_arn"),
            name=job_name,
            jobDriver={
                "sparkSubmit": {
                    "entryPoint": settings.require("spark_script_uri"),
                    "entryPointArguments": entry_arguments,
                    "sparkSubmitParameters": f"--conf spark.submit.pyFiles={py_files}",
                }
            },
            tags=tag_map(run["run_id"], settings.stack_name),
        ),
    )
    return _descriptor("emr-serverless", mode, job_name=application_id, job_run_id=started["jobRunId"])


def _descriptor(engine: str, mode: Mode, *, job_name: str, job_run_id: str) -> dict[str, Any]:
    return {
        "kind": "spark",
        "engine": engine,
        "mode": mode,
        "job_name": job_name,
        "job_run_id": job_run_id,
        "attempt": 0,
        "done": False,
    }


def stop_spark_job(*, glue: Any, emr: Any, job: dict[str, Any]) -> None:
    """Stop the one run a poll descriptor names."""
    if job["engine"] == "glue":
        call_aws(
            "glue", lambda: glue.batch_stop_job_run(JobName=job["job_name"], JobRunIds=[job["job_run_id"]])
        )
    else:
        call_aws(
            "emr-serverless",
            lambda: emr.cancel_job_run(applicationId=job["job_name"], jobRunId=job["job_run_id"]),
        )


def spark_status(*, glue: Any, emr: Any, job: dict[str, Any]) -> dict[str, Any]:
    """Done, still running, or `SparkJobFailed` with the engine's own message."""
    if job["engine"] == "glue":
        run = call_aws("glue", lambda: glue.get_job_run(JobName=job["job_name"], RunId=job["job_run_id"]))[
            "JobRun"
        ]
        state, message = run["JobRunState"], run.get("ErrorMessage", "")
        failed, running = state in GLUE_FAILED, state in GLUE_RUNNING
    else:
        run = call_aws(
            "emr-serverless",
            lambda: emr.get_job_run(applicationId=job["job_name"], jobRunId=job["job_run_id"]),
        )["jobRun"]
        state, message = run["state"], run.get("stateDetails", "")
        failed, running = state in EMR_FAILED, state in EMR_RUNNING
    if failed:
        raise SparkJobFailed(f"Spark {job['mode']} job run {job['job_run_id']} ended {state}: {message}")
    return {"done": not running, "status": state}
