"""The closed marker: once the failure cleanup has begun, a state still in flight (the other branch of a
failed Parallel) starts nothing, and one that raced past the first check stops what it started."""

from __future__ import annotations

from typing import Any

import pytest

from clusterflow.app import closure, pipeline
from clusterflow.app.config import RunParameters
from clusterflow.app.faults import RunClosed
from clusterflow.app.names import run_names
from clusterflow.local.stops import JobStops

from .conftest import Aws, role_arn
from .test_training_spark import run_context

MODEL_URI = "s3://bucket/runs/r/models/job/output/model.tar.gz"


@pytest.fixture
def stops() -> Any:
    """moto lacks StopTrainingJob and BatchStopJobRun; the local cloud's seam answers them."""
    seam = JobStops()
    seam.install()
    yield seam
    seam.uninstall()


def failure_cleanup(aws: Aws, settings: Any, run_id: str) -> dict[str, Any]:
    error = {"Error": "SimulatedServiceFault", "Cause": "{}"}
    event = {"run_id": run_id, "outcome": "failed", "error": error}
    return pipeline.clean_up(aws.s3, aws.sagemaker, event, settings)


@pytest.fixture
def after_call() -> Any:
    """Register a handler after one operation of a (session-wide, shared) client; removed after the test."""
    registered: list[tuple[Any, str, Any]] = []

    def register(client: Any, operation: str, handler: Any) -> None:
        event = f"after-call.{client.meta.service_model.service_name}.{operation}"
        client.meta.events.register(event, handler)
        registered.append((client, event, handler))

    yield register
    for client, event, handler in registered:
        client.meta.events.unregister(event, handler)


def closing(aws: Aws, run_id: str) -> Any:
    """An after-call handler that closes the run: the cleanup ran between the create and the re-check."""
    return lambda **_: closure.close_run(aws.s3, aws.bucket, run_id, "closed mid-call")


def test_the_failure_cleanup_closes_the_run_and_the_success_cleanup_does_not(
    aws: Aws, make_settings: Any
) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    pipeline.clean_up(aws.s3, aws.sagemaker, {"run_id": "run-ok", "outcome": "succeeded"}, settings)
    assert not closure.is_closed(aws.s3, aws.bucket, "run-ok")
    failure_cleanup(aws, settings, "run-bad")
    assert closure.is_closed(aws.s3, aws.bucket, "run-bad")


def test_a_closed_run_starts_no_spark_job_training_job_or_endpoint(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    aws.glue.create_job(
        Name="cf-test-spark", Role="arn:aws:iam::123456789012:role/glue", Command={"Name": "glueetl"}
    )
    run = run_context(aws, "run-x", RunParameters.resolve(None, settings))
    failure_cleanup(aws, settings, "run-x")

    with pytest.raises(RunClosed, match="run-x is being cleaned up"):
        pipeline.start_spark_job(aws.s3, aws.glue, aws.emr, {"mode": "prepare", "run": run}, settings)
    with pytest.raises(RunClosed):
        pipeline.start_training(aws.s3, aws.sagemaker, {"algorithm": "pca", "run": run}, settings)
    with pytest.raises(RunClosed):
        event = {"algorithm": "kmeans", "run": run, "model_uri": MODEL_URI}
        pipeline.deploy_endpoint(aws.s3, aws.sagemaker, event, settings)

    assert aws.glue.get_job_runs(JobName="cf-test-spark")["JobRuns"] == []
    assert aws.sagemaker.list_training_jobs()["TrainingJobSummaries"] == []
    assert aws.sagemaker.list_endpoints()["Endpoints"] == []
    assert aws.sagemaker.list_models()["Models"] == []


@pytest.mark.usefixtures("stops")
def test_a_training_job_started_as_the_run_closed_is_stopped_again(
    aws: Aws, make_settings: Any, after_call: Any
) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    run = run_context(aws, "run-t", RunParameters.resolve(None, settings))
    # moto completes a job at once; hold it InProgress, as SageMaker would be right after the create.
    hold = run_names("run-t", "cft").pca_training_job
    after_call(aws.sagemaker, "CreateTrainingJob", lambda **_: _hold_in_progress(hold))
    after_call(aws.sagemaker, "CreateTrainingJob", closing(aws, "run-t"))

    with pytest.raises(RunClosed, match="stopped it again"):
        pipeline.start_training(aws.s3, aws.sagemaker, {"algorithm": "pca", "run": run}, settings)

    job = aws.sagemaker.describe_training_job(TrainingJobName=run_names("run-t", "cft").pca_training_job)
    assert job["TrainingJobStatus"] in ("Stopping", "Stopped")


def test_an_endpoint_created_as_the_run_closed_is_deleted_again(
    aws: Aws, make_settings: Any, after_call: Any
) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    run = run_context(aws, "run-e", RunParameters.resolve(None, settings))
    after_call(aws.sagemaker, "CreateEndpoint", closing(aws, "run-e"))

    with pytest.raises(RunClosed, match="stopped it again"):
        event = {"algorithm": "pca", "run": run, "model_uri": MODEL_URI}
        pipeline.deploy_endpoint(aws.s3, aws.sagemaker, event, settings)

    assert aws.sagemaker.list_endpoints()["Endpoints"] == []
    assert aws.sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert aws.sagemaker.list_models()["Models"] == []


@pytest.mark.usefixtures("stops")
def test_a_spark_job_started_as_the_run_closed_is_stopped_again(
    aws: Aws, make_settings: Any, after_call: Any
) -> None:
    settings = make_settings()
    aws.glue.create_job(
        Name="cf-test-spark", Role="arn:aws:iam::123456789012:role/glue", Command={"Name": "glueetl"}
    )
    run = run_context(aws, "run-s", RunParameters.resolve(None, settings))
    after_call(aws.glue, "StartJobRun", closing(aws, "run-s"))

    with pytest.raises(RunClosed, match="stopped it again"):
        pipeline.start_spark_job(aws.s3, aws.glue, aws.emr, {"mode": "prepare", "run": run}, settings)

    (job_run,) = aws.glue.get_job_runs(JobName="cf-test-spark")["JobRuns"]
    assert job_run["JobRunState"] == "STOPPED"


def _hold_in_progress(job_name: str) -> None:
    from moto.sagemaker.models import sagemaker_backends

    sagemaker_backends["123456789012"]["us-east-1"].training_jobs[job_name].training_job_status = "InProgress"
