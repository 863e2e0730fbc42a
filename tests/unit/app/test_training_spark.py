"""The exact SageMaker, Glue and EMR Serverless requests, against moto with parameter validation on."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.stub import Stubber

from clusterflow.app import pipeline, spark, training
from clusterflow.app.config import RunParameters
from clusterflow.app.faults import PollLimitExceeded, SparkJobFailed, TrainingJobFailed, TransientServiceError
from clusterflow.app.names import run_names

from .conftest import Aws, role_arn


def capture(client: Any, operation: str) -> list[dict[str, Any]]:
    """Every request `client` sends for `operation`, as the parameters went out."""
    seen: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.{client.meta.service_model.service_name}.{operation}",
        lambda params, **_: seen.append(dict(params)),
    )
    return seen


def run_context(aws: Aws, run_id: str, params: RunParameters, prefix: str = "cft") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "bucket": aws.bucket,
        "key": "incoming/train.libsvm",
        "version_id": "v1",
        "input_uri": f"s3://{aws.bucket}/incoming/train.libsvm",
        "parameters": params.model_dump(mode="json"),
        "names": run_names(run_id, prefix).as_dict(),
    }


def test_create_training_job_request_is_exactly_reference_section_6(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws), AWS_REGION="eu-west-1")
    params = RunParameters.resolve({"k": 10, "num_components": 50}, settings)
    run = run_context(aws, "run-123", params)
    sent = capture(aws.sagemaker, "CreateTrainingJob")
    pca = pipeline.start_training(
        aws.s3, aws.sagemaker, {"run_id": "run-123", "algorithm": "pca", "run": run}, settings
    )
    pipeline.start_training(
        aws.s3, aws.sagemaker, {"run_id": "run-123", "algorithm": "kmeans", "run": run}, settings
    )

    assert pca == {
        "kind": "training",
        "algorithm": "pca",
        "name": run["names"]["pca_training_job"],
        "attempt": 0,
        "done": False,
    }
    pca_request, kmeans_request = sent
    assert pca_request["AlgorithmSpecification"] == {
        "TrainingImage": "438346466558.dkr.ecr.eu-west-1.amazonaws.com/pca:1",
        "TrainingInputMode": "File",
    }
    assert kmeans_request["AlgorithmSpecification"]["TrainingImage"].endswith("/kmeans:1")
    assert pca_request["HyperParameters"] == {
        "feature_dim": "784",
        "num_components": "50",
        "mini_batch_size": "500",
        "algorithm_mode": "regular",
        "subtract_mean": "true",
    }
    assert kmeans_request["HyperParameters"]["feature_dim"] == "50"
    assert kmeans_request["HyperParameters"]["k"] == "10"
    for request in sent:
        assert all(isinstance(value, str) for value in request["HyperParameters"].values())
        assert 1 <= len(request["TrainingJobName"]) <= 63
        (channel,) = request["InputDataConfig"]
        assert channel["ChannelName"] == "train"
        assert channel["ContentType"] == "application/x-recordio-protobuf"
        source = channel["DataSource"]["S3DataSource"]
        assert source["S3DataType"] == "S3Prefix"
        assert source["S3Uri"].startswith(f"s3://{aws.bucket}/runs/run-123/staging/")
        assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{aws.bucket}/runs/run-123/models"}
        assert request["RoleArn"] == settings.sagemaker_role_arn
        assert {"Key": "clusterflow:run-id", "Value": "run-123"} in request["Tags"]
        assert {"Key": "clusterflow:stack", "Value": "cf-test"} in request["Tags"]
    assert pca_request["TrainingJobName"] != kmeans_request["TrainingJobName"]


def test_training_status_reports_the_artifact_then_sagemakers_failure_reason(
    aws: Aws, make_settings: Any
) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    params = RunParameters.resolve(None, settings)
    run = run_context(aws, "run-ok", params)
    job = pipeline.start_training(
        aws.s3, aws.sagemaker, {"run_id": "run-ok", "algorithm": "pca", "run": run}, settings
    )
    polled = pipeline.check_status(aws.sagemaker, aws.glue, aws.emr, {"job": job, "max_attempts": 5})
    assert polled["done"] is True and polled["attempt"] == 1
    assert polled["model_uri"].endswith(f"/{job['name']}/output/model.tar.gz")

    stubbed = aws.client("sagemaker")
    with Stubber(stubbed) as stub:
        stub.add_response(
            "describe_training_job",
            {
                "TrainingJobName": "j",
                "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/j",
                "TrainingJobStatus": "Failed",
                "SecondaryStatus": "Failed",
                "FailureReason": "ClientError: Unable to parse hyperparameter k",
                "AlgorithmSpecification": {"TrainingInputMode": "File"},
                "ModelArtifacts": {"S3ModelArtifacts": ""},
                "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
                "StoppingCondition": {"MaxRuntimeInSeconds": 60},
                "CreationTime": "2026-01-01T00:00:00Z",
            },
            {"TrainingJobName": "j"},
        )
        with pytest.raises(TrainingJobFailed, match="Unable to parse hyperparameter k"):
            training.training_status(stubbed, "j")


def test_throttling_is_raised_as_a_named_transient_error(aws: Aws) -> None:
    stubbed = aws.client("sagemaker")
    with Stubber(stubbed) as stub:
        stub.add_client_error("describe_training_job", "ThrottlingException", "Rate exceeded")
        with pytest.raises(TransientServiceError, match="ThrottlingException"):
            training.training_status(stubbed, "j")


def test_poll_loop_is_bounded(aws: Aws) -> None:
    stubbed = aws.client("sagemaker")
    with Stubber(stubbed) as stub:
        stub.add_response(
            "describe_endpoint",
            {
                "EndpointName": "e",
                "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
                "EndpointStatus": "Creating",
                "CreationTime": "2026-01-01T00:00:00Z",
                "LastModifiedTime": "2026-01-01T00:00:00Z",
            },
        )
        job = {"kind": "endpoint", "name": "e", "attempt": 4, "done": False}
        with pytest.raises(PollLimitExceeded, match="after 5 polls"):
            pipeline.check_status(stubbed, aws.glue, aws.emr, {"job": job, "max_attempts": 5})


def test_glue_job_run_arguments_and_poll(aws: Aws, make_settings: Any) -> None:
    settings = make_settings()
    aws.glue.create_job(
        Name="cf-test-spark", Role="arn:aws:iam::123456789012:role/glue", Command={"Name": "glueetl"}
    )
    params = RunParameters.resolve({"projection_engine": "endpoint"}, settings)
    run = run_context(aws, "run-g", params)
    sent = capture(aws.glue, "StartJobRun")
    prepare = pipeline.start_spark_job(aws.s3, aws.glue, aws.emr, {"mode": "prepare", "run": run}, settings)
    pca = {"model_uri": f"s3://{aws.bucket}/runs/run-g/models/x/output/model.tar.gz"}
    pipeline.start_spark_job(aws.s3, aws.glue, aws.emr, {"mode": "project", "run": run, "pca": pca}, settings)

    assert sent[0] == {
        "JobName": "cf-test-spark",
        "Arguments": {
            "--mode": "prepare",
            "--input_uri": f"s3://{aws.bucket}/incoming/train.libsvm",
            "--num_features": "784",
            "--output_uri": f"s3://{aws.bucket}/runs/run-g/staging/pca-train/",
        },
    }
    assert sent[1]["Arguments"] == {
        "--mode": "project",
        "--input_uri": f"s3://{aws.bucket}/incoming/train.libsvm",
        "--num_features": "784",
        "--output_uri": f"s3://{aws.bucket}/runs/run-g/staging/kmeans-train/",
        "--pca_model_uri": pca["model_uri"],
        "--projections_uri": f"s3://{aws.bucket}/runs/run-g/projections/",
        "--projection_engine": "endpoint",
        "--pca_endpoint_name": run["names"]["pca_endpoint"],
        "--region": "us-east-1",
    }
    job = prepare
    for _ in range(5):
        job = pipeline.check_status(aws.sagemaker, aws.glue, aws.emr, {"job": job, "max_attempts": 10})
        if job["done"]:
            break
    assert job["done"] and job["status"] == "SUCCEEDED"


def test_failed_glue_run_fails_with_its_message(aws: Aws) -> None:
    stubbed = aws.client("glue")
    with Stubber(stubbed) as stub:
        stub.add_response(
            "get_job_run",
            {
                "JobRun": {
                    "Id": "jr_1",
                    "JobRunState": "FAILED",
                    "ErrorMessage": "line 3: index 0 is not 1-based",
                }
            },
        )
        job = {"kind": "spark", "engine": "glue", "mode": "prepare", "job_name": "j", "job_run_id": "jr_1"}
        with pytest.raises(SparkJobFailed, match="1-based"):
            spark.spark_status(glue=stubbed, emr=None, job=job)


def test_emr_serverless_job_run_request(aws: Aws, make_settings: Any) -> None:
    application = aws.emr.create_application(name="cf-spark", releaseLabel="emr-7.5.0", type="SPARK")[
        "applicationId"
    ]
    settings = make_settings(
        EMR_APPLICATION_ID=application,
        EMR_JOB_ROLE_ARN="arn:aws:iam::123456789012:role/emr",
        SPARK_SCRIPT_URI="s3://b/artifacts/project.py",
        SPARK_PY_FILES_URI="s3://b/artifacts/clusterflow.zip",
    )
    params = RunParameters.resolve({"spark_engine": "emr-serverless"}, settings)
    run = run_context(aws, "run-e", params)
    sent = capture(aws.emr, "StartJobRun")
    job = pipeline.start_spark_job(aws.s3, aws.glue, aws.emr, {"mode": "prepare", "run": run}, settings)
    (request,) = sent
    assert request["applicationId"] == application
    assert request["executionRoleArn"] == "arn:aws:iam::123456789012:role/emr"
    assert request["name"] == run["names"]["prepare_job_run"]
    driver = request["jobDriver"]["sparkSubmit"]
    assert driver["entryPoint"] == "s3://b/artifacts/project.py"
    assert driver["entryPointArguments"][:2] == ["--mode", "prepare"]
    assert "spark.submit.pyFiles=s3://b/artifacts/clusterflow.zip" in driver["sparkSubmitParameters"]
    assert request["tags"] == {"clusterflow:run-id": "run-e", "clusterflow:stack": "cf-test"}
    polled = pipeline.check_status(aws.sagemaker, aws.glue, aws.emr, {"job": job, "max_attempts": 3})
    assert polled["done"] is True
