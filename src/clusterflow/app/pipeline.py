"""One function per state machine Task; each handler in `functions/` calls exactly one of these.

Events are the Task `Payload`s of `statemachine/pipeline.asl.json`: each carries `run_id` (the
execution name) and `state_name` besides its own fields.
"""

from __future__ import annotations

from typing import Any

from clusterflow.app import cleanup, closure, endpoints, spark, training, validation
from clusterflow.app.config import EndpointPolicy, RunParameters, Settings
from clusterflow.app.faults import ConfigurationError, InputRejected, PollLimitExceeded
from clusterflow.app.names import LATEST_KEY, RunNames, projections_prefix, s3_uri
from clusterflow.app.observability import MetricUnit, metrics
from clusterflow.app.storage import now_iso, update_manifest, write_json

ALGORITHMS = ("pca", "kmeans")


def _params(run: dict[str, Any]) -> RunParameters:
    return RunParameters.model_validate(run["parameters"])


def _algorithm(event: dict[str, Any]) -> Any:
    algorithm = event.get("algorithm")
    if algorithm not in ALGORITHMS:
        raise ConfigurationError(f"state {event.get('state_name')}: unknown algorithm {algorithm!r}")
    return algorithm


def _count(name: str, value: float = 1) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def validate_input(s3: Any, event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    try:
        run = validation.validate_input(
            s3, run_id=event["run_id"], execution_input=event["input"], settings=settings
        )
    except InputRejected:
        _count("InputsRejected")
        raise
    _count("RowsAccepted", run["rows"])
    return run


def start_spark_job(
    s3: Any, glue: Any, emr: Any, event: dict[str, Any], settings: Settings
) -> dict[str, Any]:
    run = event["run"]
    mode = event.get("mode")
    if mode not in ("prepare", "project"):
        raise ConfigurationError(f"state {event.get('state_name')}: unknown Spark mode {mode!r}")
    pca_model_uri = (event.get("pca") or {}).get("model_uri")
    descriptor = closure.create_while_open(
        s3,
        bucket=run["bucket"],
        run_id=run["run_id"],
        what=f"the Spark {mode} job",
        create=lambda: spark.start_spark_job(
            glue=glue,
            emr=emr,
            settings=settings,
            mode=mode,
            run=run,
            params=_params(run),
            pca_model_uri=pca_model_uri,
        ),
        undo=lambda started: spark.stop_spark_job(glue=glue, emr=emr, job=started),
    )
    _count("SparkJobsStarted")
    return descriptor


def start_training(s3: Any, sagemaker: Any, event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    run = event["run"]
    algorithm = _algorithm(event)
    request = training.training_request(
        algorithm=algorithm,
        run_id=run["run_id"],
        bucket=run["bucket"],
        params=_params(run),
        role_arn=settings.require("sagemaker_role_arn"),
        region=settings.region,
        stack_name=settings.stack_name,
        prefix=settings.resource_prefix,
    )
    name = closure.create_while_open(
        s3,
        bucket=run["bucket"],
        run_id=run["run_id"],
        what=f"training job {request['TrainingJobName']}",
        create=lambda: training.start_training(sagemaker, request),
        undo=lambda started: training.stop_if_in_progress(sagemaker, started),
    )
    _count("TrainingJobsStarted")
    return {"kind": "training", "algorithm": algorithm, "name": name, "attempt": 0, "done": False}


def deploy_endpoint(s3: Any, sagemaker: Any, event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    run = event["run"]
    algorithm = _algorithm(event)
    params = _params(run)
    names = endpoints.endpoint_names(RunNames(**run["names"]), algorithm)
    closure.create_while_open(
        s3,
        bucket=run["bucket"],
        run_id=run["run_id"],
        what=f"endpoint {names.endpoint}",
        create=lambda: endpoints.create_endpoint(
            sagemaker,
            algorithm=algorithm,
            names=names,
            model_data_url=event["model_uri"],
            role_arn=settings.require("sagemaker_role_arn"),
            region=settings.region,
            instance_type=params.endpoint_instance_type,
            instance_count=params.endpoint_instance_count,
            run_id=run["run_id"],
            stack_name=settings.stack_name,
        ),
        undo=lambda _: endpoints.delete_endpoint_resources(sagemaker, names),
    )
    _count("EndpointsCreated")
    return endpoint_descriptor(names.endpoint, algorithm)


def endpoint_descriptor(endpoint_name: str, algorithm: str) -> dict[str, Any]:
    return {"kind": "endpoint", "algorithm": algorithm, "name": endpoint_name, "attempt": 0, "done": False}


def check_status(sagemaker: Any, glue: Any, emr: Any, event: dict[str, Any]) -> dict[str, Any]:
    """One poll of a job descriptor: bumps its attempt counter, raises past the bound."""
    job = dict(event["job"])
    max_attempts = int(event.get("max_attempts") or 1)
    job["attempt"] = int(job.get("attempt", 0)) + 1
    _count("StatusPolls")
    if job["kind"] == "training":
        job |= training.training_status(sagemaker, job["name"])
    elif job["kind"] == "spark":
        job |= spark.spark_status(glue=glue, emr=emr, job=job)
    elif job["kind"] == "endpoint":
        job |= endpoints.endpoint_ready(sagemaker, job["name"])
    else:
        raise ConfigurationError(f"state {event.get('state_name')}: unknown job kind {job['kind']!r}")
    if not job["done"] and job["attempt"] >= max_attempts:
        what = job.get("name") or job.get("job_run_id")
        raise PollLimitExceeded(
            f"{job['kind']} {what} not finished after {job['attempt']} polls ({job['status']})"
        )
    return job


def record_results(s3: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Write the manifest of a successful run and point `runs/latest.json` at it."""
    run = event["run"]
    # Each job sits under "Payload" in the state (the Task's ResultSelector keeps the Lambda's answer there).
    jobs = {name: (value or {}).get("Payload", {}) for name, value in event["jobs"].items()}
    names = RunNames(**run["names"])
    endpoints_created = [
        job["name"]
        for job in (jobs.get("pca_endpoint"), jobs.get("kmeans_endpoint"))
        if job and job.get("done")
    ]
    manifest = update_manifest(
        s3,
        run["bucket"],
        run["run_id"],
        {
            "status": "SUCCEEDED",
            "finished_at": now_iso(),
            "artifacts": {
                "pca_model_uri": jobs["pca"]["model_uri"],
                "kmeans_model_uri": jobs["kmeans"]["model_uri"],
                "projections_uri": s3_uri(run["bucket"], projections_prefix(run["run_id"])),
            },
            "training_jobs": [names.pca_training_job, names.kmeans_training_job],
            "metrics": {
                "pca": jobs["pca"].get("metrics", {}),
                "kmeans": jobs["kmeans"].get("metrics", {}),
            },
            "endpoints": endpoints_created,
            "endpoint_policy": run["parameters"]["endpoint_policy"],
        },
    )
    _count("RunsSucceeded")
    write_json(s3, run["bucket"], LATEST_KEY, {"run_id": run["run_id"], "updated_at": now_iso()})
    return {
        "manifest_uri": s3_uri(run["bucket"], f"runs/{run['run_id']}/manifest.json"),
        "status": manifest["status"],
    }


def clean_up(
    s3: Any, sagemaker: Any, event: dict[str, Any], settings: Settings, *, glue: Any = None, emr: Any = None
) -> dict[str, Any]:
    """After a failure: staging and every endpoint, config and model of the run. After success: staging,
    and the endpoints too unless the policy is CREATE_ON_CONSTRUCT (the endpoint projection engine
    creates the PCA endpoint for the Spark job only)."""
    failed = event.get("outcome") != "succeeded"
    keep_endpoints = not failed and event.get("endpoint_policy") == EndpointPolicy.CREATE_ON_CONSTRUCT.value
    bucket = event.get("bucket") or settings.require("data_bucket")
    report = cleanup.cleanup_run(
        s3,
        sagemaker,
        bucket=bucket,
        run_id=event["run_id"],
        delete_endpoints=not keep_endpoints,
        error=cleanup.error_message(event.get("error")) if failed else None,
        prefix=settings.resource_prefix,
        close=failed,
        spark=cleanup.SparkTargets(glue, emr, settings.glue_job_name, settings.emr_application_id)
        if failed
        else None,
    )
    _count("ResourcesDeleted", len(report.deleted))
    return report.as_dict()
