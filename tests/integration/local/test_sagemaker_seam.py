"""Seam 3 against moto 5.2.5: training jobs train on our engine, endpoints answer through our hosting."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator

import numpy as np
import pytest
from botocore.exceptions import ClientError

from clusterflow.artifacts.model import KMeansModel, PCAModel, load_model, write_model_tar
from clusterflow.formats.recordio import decode_label_records, encode_dense_rows, write_recordio
from clusterflow.local.cloud import LocalCloud

from .conftest import STANDIN

IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/{}:1"
ROLE = "arn:aws:iam::123456789012:role/cf-sm-sagemaker"
KNOWN_KMEANS = "runs/r1/models/known-kmeans/output/model.tar.gz"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(
        STANDIN,
        stack_name="cf-sm",
        engines=True,
        endpoint_delay_seconds=0.2,
        work_dir=tmp_path_factory.mktemp("sm"),
    ) as running:
        rng = np.random.default_rng(3)
        rows = np.vstack([rng.normal(loc, 0.3, size=(60, 5)) for loc in (0.0, 4.0)]).astype(np.float32)
        text = "\n".join(",".join(f"{v:.5f}" for v in row) for row in rows) + "\n"
        running.client("s3").put_object(
            Bucket=running.data_bucket, Key="runs/r1/staging/train/part-0.csv", Body=text.encode()
        )
        artifact = io.BytesIO()
        write_model_tar(artifact, KMeansModel(np.array([[0.0] * 5, [4.0] * 5], dtype=np.float32)))
        running.client("s3").put_object(
            Bucket=running.data_bucket, Key=KNOWN_KMEANS, Body=artifact.getvalue()
        )
        yield running


def _train(cloud: LocalCloud, name: str, algorithm: str, hyperparameters: dict[str, str]) -> dict:
    sm = cloud.client("sagemaker")
    sm.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE.format(algorithm), "TrainingInputMode": "File"},
        RoleArn=ROLE,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv;label_size=0",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3DataDistributionType": "FullyReplicated",
                        "S3Uri": f"s3://{cloud.data_bucket}/runs/r1/staging/train/",
                    }
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{cloud.data_bucket}/runs/r1/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        HyperParameters=hyperparameters,
        Tags=[{"Key": "clusterflow:run-id", "Value": "r1"}],
    )
    first = sm.describe_training_job(TrainingJobName=name)
    assert first["TrainingJobStatus"] == "InProgress"
    cloud.sagemaker.wait_idle(60)
    return sm.describe_training_job(TrainingJobName=name)


def test_training_job_trains_and_writes_the_artifact_where_sagemaker_does(cloud: LocalCloud) -> None:
    described = _train(
        cloud, "cf-r1-pca", "pca", {"feature_dim": "5", "num_components": "2", "mini_batch_size": "50"}
    )
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    uri = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == f"s3://{cloud.data_bucket}/runs/r1/models/cf-r1-pca/output/model.tar.gz"
    body = cloud.client("s3").get_object(Bucket=cloud.data_bucket, Key=uri.split("/", 3)[3])["Body"].read()
    model = load_model(io.BytesIO(body), "pca")
    assert isinstance(model, PCAModel) and model.v.shape == (5, 2)
    kmeans = _train(cloud, "cf-r1-kmeans", "kmeans", {"feature_dim": "5", "k": "2", "mini_batch_size": "50"})
    assert kmeans["TrainingJobStatus"] == "Completed", kmeans.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in kmeans["FinalMetricDataList"]}
    assert 0 < metrics["train:msd"] < 1.0  # two tight blobs, found
    assert cloud.sagemaker.training_jobs_started[-2:] == ["cf-r1-pca", "cf-r1-kmeans"]
    log = (cloud.work_dir / "sagemaker" / "cf-r1-kmeans" / "training.log").read_text()
    assert "#quality_metric: host=algo-1, train msd" in log


def test_bad_hyperparameter_fails_the_job_with_the_reason(cloud: LocalCloud) -> None:
    described = _train(cloud, "cf-r1-bad", "kmeans", {"feature_dim": "5", "k": "1"})
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: ") and "'k'" in described["FailureReason"]
    assert cloud.list_resources_of_run("r1")["training_jobs_in_progress"] == []


def test_endpoint_comes_up_answers_and_goes_away(cloud: LocalCloud) -> None:
    sm, runtime = (
        cloud.client("sagemaker"),
        cloud.client("sagemaker-runtime", retries={"total_max_attempts": 1}),
    )
    artifact = f"s3://{cloud.data_bucket}/{KNOWN_KMEANS}"
    tags = [{"Key": "clusterflow:run-id", "Value": "r1"}]
    sm.create_model(
        ModelName="cf-r1-m",
        ExecutionRoleArn=ROLE,
        Tags=tags,
        PrimaryContainer={"Image": IMAGE.format("kmeans"), "ModelDataUrl": artifact},
    )
    sm.create_endpoint_config(
        EndpointConfigName="cf-r1-c",
        Tags=tags,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "cf-r1-m",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.t2.medium",
            }
        ],
    )
    cloud.sagemaker.endpoint_delay_seconds = 60
    sm.create_endpoint(EndpointName="cf-r1-slow", EndpointConfigName="cf-r1-c", Tags=tags)
    assert sm.describe_endpoint(EndpointName="cf-r1-slow")["EndpointStatus"] == "Creating"
    with pytest.raises(ClientError) as early:
        runtime.invoke_endpoint(EndpointName="cf-r1-slow", Body=b"0,0,0,0,0", ContentType="text/csv")
    assert early.value.response["Error"]["Code"] == "ValidationError"
    assert "not InService" in early.value.response["Error"]["Message"]
    sm.delete_endpoint(EndpointName="cf-r1-slow")
    cloud.sagemaker.endpoint_delay_seconds = 0.2
    sm.create_endpoint(EndpointName="cf-r1-e", EndpointConfigName="cf-r1-c", Tags=tags)
    deadline = time.monotonic() + 10
    while sm.describe_endpoint(EndpointName="cf-r1-e")["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sm.describe_endpoint(EndpointName="cf-r1-e")["EndpointStatus"] == "InService"
    answer = runtime.invoke_endpoint(
        EndpointName="cf-r1-e",
        Body=b"0,0,0,0,0\n4,4,4,4,4\n",
        ContentType="text/csv",
        Accept="application/json",
    )
    predictions = json.loads(answer["Body"].read())["predictions"]
    assert answer["ContentType"] == "application/json"
    assert len(predictions) == 2 and predictions[0]["closest_cluster"] != predictions[1]["closest_cluster"]
    recordio = "application/x-recordio-protobuf"  # binary bodies reach the engine unchanged
    request = io.BytesIO()
    write_recordio(request, encode_dense_rows(np.array([[0] * 5, [4] * 5], dtype=np.float32)))
    answer = runtime.invoke_endpoint(
        EndpointName="cf-r1-e", Body=request.getvalue(), ContentType=recordio, Accept=recordio
    )
    records = decode_label_records(answer["Body"].read())
    assert [float(r["closest_cluster"][0]) for r in records] == [p["closest_cluster"] for p in predictions]
    with pytest.raises(ClientError) as bad:
        runtime.invoke_endpoint(EndpointName="cf-r1-e", Body=b"1,2\n", ContentType="text/csv")
    assert bad.value.response["Error"]["Code"] == "ModelError"
    assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    held = cloud.list_resources_of_run("r1")
    assert (held["endpoints"], held["endpoint_configs"], held["models"]) == (
        ["cf-r1-e"],
        ["cf-r1-c"],
        ["cf-r1-m"],
    )
    sm.delete_endpoint(EndpointName="cf-r1-e")
    sm.delete_endpoint_config(EndpointConfigName="cf-r1-c")
    sm.delete_model(ModelName="cf-r1-m")
    with pytest.raises(ClientError, match="Could not find endpoint"):
        sm.describe_endpoint(EndpointName="cf-r1-e")
    with pytest.raises(ClientError) as gone:
        runtime.invoke_endpoint(EndpointName="cf-r1-e", Body=b"0,0,0,0,0", ContentType="text/csv")
    assert gone.value.response["Error"]["Code"] == "ValidationError"
    held = cloud.list_resources_of_run("r1")
    assert (held["endpoints"], held["endpoint_configs"], held["models"]) == ([], [], [])


def test_injected_throttling_fails_the_first_calls_only(cloud: LocalCloud) -> None:
    from clusterflow.local.lambdas import FaultPlan
    from clusterflow.local.service_faults import ServiceFault

    sm = cloud.client("sagemaker", retries={"total_max_attempts": 1})
    cloud.lambdas.faults = FaultPlan(service=(ServiceFault("sagemaker", "ListTrainingJobs", times=2),))
    try:
        for _ in range(2):
            with pytest.raises(ClientError) as throttled:
                sm.list_training_jobs()
            assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
        assert "TrainingJobSummaries" in sm.list_training_jobs()
        assert "Endpoints" in sm.list_endpoints()  # other operations untouched
    finally:
        cloud.lambdas.faults = FaultPlan()
    assert len(cloud.service_faults.injected) == 2


def test_bad_channel_data_fails_the_job_naming_the_s3_object(cloud: LocalCloud) -> None:
    cloud.client("s3").put_object(
        Bucket=cloud.data_bucket, Key="runs/r9/staging/train/part-0.csv", Body=b"1,2,3,4,5\n1,2,x,4,5\n"
    )
    sm = cloud.client("sagemaker")
    sm.create_training_job(
        TrainingJobName="cf-r9-bad-data",
        AlgorithmSpecification={"TrainingImage": IMAGE.format("pca"), "TrainingInputMode": "File"},
        RoleArn=ROLE,
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{cloud.data_bucket}/runs/r9/staging/train/",
                    }
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{cloud.data_bucket}/runs/r9/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        HyperParameters={"feature_dim": "5", "num_components": "2", "mini_batch_size": "10"},
    )
    cloud.sagemaker.wait_idle(60)
    described = sm.describe_training_job(TrainingJobName="cf-r9-bad-data")
    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith("ClientError: ") and "line 2" in reason
    assert f"s3://{cloud.data_bucket}/runs/r9/staging/train/part-0.csv" in reason
    assert str(cloud.work_dir) not in reason
