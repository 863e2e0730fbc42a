"""Endpoints: exact create requests, delete order endpoint -> config -> model, "not found" = done,
cleanup leaving nothing, and the idle-endpoint reaper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from clusterflow.app import cleanup, pipeline, reaper
from clusterflow.app.config import RunParameters
from clusterflow.app.faults import ResourceNotReady
from clusterflow.app.names import run_names
from clusterflow.app.tags import LAST_INVOKED_TAG

from .conftest import Aws, role_arn
from .test_training_spark import capture, run_context

MODEL_URI = "s3://bucket/runs/r/models/job/output/model.tar.gz"


def deploy(aws: Aws, settings: Any, run_id: str, algorithm: str = "pca") -> dict[str, Any]:
    run = run_context(aws, run_id, RunParameters.resolve(None, settings))
    event = {"run_id": run_id, "algorithm": algorithm, "run": run, "model_uri": MODEL_URI}
    return pipeline.deploy_endpoint(aws.s3, aws.sagemaker, event, settings)


def test_deploy_sends_model_config_endpoint_with_tags(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    models = capture(aws.sagemaker, "CreateModel")
    configs = capture(aws.sagemaker, "CreateEndpointConfig")
    endpoints = capture(aws.sagemaker, "CreateEndpoint")
    job = deploy(aws, settings, "run-d", "kmeans")
    names = run_names("run-d", "cft")
    assert job == {
        "kind": "endpoint",
        "algorithm": "kmeans",
        "name": names.kmeans_endpoint,
        "attempt": 0,
        "done": False,
    }
    assert models[0]["PrimaryContainer"] == {
        "Image": "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1",
        "ModelDataUrl": MODEL_URI,
    }
    assert models[0]["ExecutionRoleArn"] == settings.sagemaker_role_arn
    (variant,) = configs[0]["ProductionVariants"]
    assert variant["ModelName"] == names.kmeans_model and variant["InstanceType"] == "ml.t2.medium"
    assert endpoints[0] == {
        "EndpointName": names.kmeans_endpoint,
        "EndpointConfigName": names.kmeans_endpoint_config,
        "Tags": [
            {"Key": "clusterflow:run-id", "Value": "run-d"},
            {"Key": "clusterflow:stack", "Value": "cf-test"},
        ],
    }
    polled = pipeline.check_status(aws.sagemaker, aws.glue, aws.emr, {"job": job, "max_attempts": 3})
    assert polled["done"] is True and polled["status"] == "InService"
    # A retried deploy finds its own resources and succeeds.
    assert deploy(aws, settings, "run-d", "kmeans")["name"] == names.kmeans_endpoint


def test_cleanup_deletes_in_order_and_treats_not_found_as_done(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    deploy(aws, settings, "run-c", "pca")
    aws.s3.put_object(Bucket=aws.bucket, Key="runs/run-c/staging/pca-train/part-00000.pbr", Body=b"x")
    aws.s3.put_object(Bucket=aws.bucket, Key="runs/run-c/models/job/output/model.tar.gz", Body=b"m")
    order: list[str] = []
    for operation in ("DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"):
        aws.sagemaker.meta.events.register(
            f"provide-client-params.sagemaker.{operation}", lambda params, op=operation, **_: order.append(op)
        )
    error = {
        "Error": "TrainingJobFailed",
        "Cause": '{"errorMessage": "bad k", "errorType": "TrainingJobFailed"}',
    }
    report = pipeline.clean_up(
        aws.s3, aws.sagemaker, {"run_id": "run-c", "outcome": "failed", "error": error}, settings
    )

    assert order[:3] == ["DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"]
    names = run_names("run-c", "cft")
    assert report["deleted"] == [
        f"endpoint/{names.pca_endpoint}",
        f"endpoint-config/{names.pca_endpoint_config}",
        f"model/{names.pca_model}",
    ]
    assert report["leaked"] == [] and report["staging_objects_deleted"] == 1
    assert aws.sagemaker.list_endpoints()["Endpoints"] == []
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="runs/run-c/staging/")
    assert (
        aws.s3.get_object(Bucket=aws.bucket, Key="runs/run-c/models/job/output/model.tar.gz")["Body"].read()
        == b"m"
    )
    manifest = aws.s3.get_object(Bucket=aws.bucket, Key="runs/run-c/manifest.json")["Body"].read().decode()
    assert '"status": "FAILED"' in manifest and "TrainingJobFailed: bad k" in manifest

    again = cleanup.cleanup_run(aws.s3, aws.sagemaker, bucket=aws.bucket, run_id="run-c", prefix="cft")
    assert again.deleted == [] and again.leaked == []


def test_success_cleanup_keeps_endpoints_only_under_create_on_construct(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    deploy(aws, settings, "run-k", "pca")
    kept = {"run_id": "run-k", "outcome": "succeeded", "endpoint_policy": "CREATE_ON_CONSTRUCT"}
    assert pipeline.clean_up(aws.s3, aws.sagemaker, kept, settings)["deleted"] == []
    assert len(aws.sagemaker.list_endpoints()["Endpoints"]) == 1
    dropped = {"run_id": "run-k", "outcome": "succeeded", "endpoint_policy": "CREATE_ON_TRANSFORM"}
    assert len(pipeline.clean_up(aws.s3, aws.sagemaker, dropped, settings)["deleted"]) == 3
    assert aws.sagemaker.list_endpoints()["Endpoints"] == []


def test_cleanup_that_leaves_something_raises_a_retryable_error(
    aws: Aws, make_settings: Any, monkeypatch: Any
) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    deploy(aws, settings, "run-l", "pca")
    monkeypatch.setattr(cleanup, "delete_endpoint_resources", lambda sagemaker, names: [])
    with pytest.raises(ResourceNotReady, match="left endpoint/"):
        cleanup.cleanup_run(aws.s3, aws.sagemaker, bucket=aws.bucket, run_id="run-l", prefix="cft")


def test_reaper_deletes_only_this_stacks_idle_endpoints(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws), ENDPOINT_IDLE_TTL_MINUTES="60")
    idle = deploy(aws, settings, "run-idle")["name"]
    busy = deploy(aws, settings, "run-busy")["name"]
    other = deploy(
        aws, make_settings(SAGEMAKER_ROLE_ARN=settings.sagemaker_role_arn, STACK_NAME="other"), "run-o"
    )["name"]
    now = datetime.now(UTC)
    for name, when in (
        (idle, now - timedelta(hours=3)),
        (busy, now - timedelta(minutes=5)),
        (other, now - timedelta(days=2)),
    ):
        arn = aws.sagemaker.describe_endpoint(EndpointName=name)["EndpointArn"]
        aws.sagemaker.add_tags(
            ResourceArn=arn, Tags=[{"Key": LAST_INVOKED_TAG, "Value": when.strftime("%Y-%m-%dT%H:%M:%SZ")}]
        )

    result = reaper.reap_idle_endpoints(aws.sagemaker, settings, now=now)

    idle_names = run_names("run-idle", "cft")
    assert result["deleted"] == [
        f"endpoint/{idle}",
        f"endpoint-config/{idle_names.pca_endpoint_config}",
        f"model/{idle_names.pca_model}",
    ]
    remaining = {e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]}
    assert remaining == {busy, other}
    later = reaper.reap_idle_endpoints(aws.sagemaker, settings, now=now + timedelta(hours=2))
    assert f"endpoint/{busy}" in later["deleted"]
    assert {e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]} == {other}


def test_reaper_uses_creation_time_for_never_invoked_endpoints(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws), ENDPOINT_IDLE_TTL_MINUTES="30")
    name = deploy(aws, settings, "run-new")["name"]
    assert reaper.reap_idle_endpoints(aws.sagemaker, settings)["kept"] == [name]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert f"endpoint/{name}" in reaper.reap_idle_endpoints(aws.sagemaker, settings, now=future)["deleted"]
