"""SageMaker training jobs for the built-in PCA and K-Means (REFERENCE sections 1, 2 and 6)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from clusterflow.app.config import RunParameters
from clusterflow.app.endpoints import is_not_found
from clusterflow.app.faults import TrainingJobFailed, call_aws, error_code
from clusterflow.app.images import Algorithm, image_uri
from clusterflow.app.names import DEFAULT_PREFIX, models_prefix, run_names, s3_uri, staging_prefix
from clusterflow.app.tags import resource_tags

RECORDIO_PROTOBUF = "application/x-recordio-protobuf"
TRAINING_VOLUME_GB = 30


def channel_prefix(run_id: str, algorithm: Algorithm) -> str:
    """Staging prefix of the `train` channel: the Spark job writes it, training reads it."""
    return f"{staging_prefix(run_id)}{algorithm}-train/"


def hyperparameters(algorithm: Algorithm, params: RunParameters) -> dict[str, str]:
    """Hyperparameters as SageMaker takes them: every value a string."""
    if algorithm == "pca":
        values: dict[str, Any] = {
            "feature_dim": params.feature_dim,
            "num_components": params.num_components,
            "mini_batch_size": params.pca_mini_batch_size,
            "algorithm_mode": "regular",
            "subtract_mean": "true",
        }
    else:
        values = {
            "feature_dim": params.num_components,
            "k": params.k,
            "mini_batch_size": params.kmeans_mini_batch_size,
            "epochs": params.kmeans_epochs,
            "init_method": "random",
            "force_dense": "True",
        }
    return {name: str(value) for name, value in values.items()}


def training_job_name(run_id: str, algorithm: Algorithm, prefix: str = DEFAULT_PREFIX) -> str:
    names = run_names(run_id, prefix)
    return names.pca_training_job if algorithm == "pca" else names.kmeans_training_job


def model_artifact_uri(bucket: str, run_id: str, job_name: str) -> str:
    return s3_uri(bucket, f"{models_prefix(run_id)}{job_name}/output/model.tar.gz")


def training_request(
    *,
    algorithm: Algorithm,
    run_id: str,
    bucket: str,
    params: RunParameters,
    role_arn: str,
    region: str,
    stack_name: str,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, Any]:
    """The CreateTrainingJob request, exactly as REFERENCE section 6 lists it."""
    instance_type = params.pca_instance_type if algorithm == "pca" else params.kmeans_instance_type
    return {
        "TrainingJobName": training_job_name(run_id, algorithm, prefix),
        "RoleArn": role_arn,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri(algorithm, region),
            "TrainingInputMode": "File",
        },
        "HyperParameters": hyperparameters(algorithm, params),
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": s3_uri(bucket, channel_prefix(run_id, algorithm)),
                        "S3DataDistributionType": "ShardedByS3Key",
                    }
                },
                "ContentType": RECORDIO_PROTOBUF,
            }
        ],
        "OutputDataConfig": {"S3OutputPath": s3_uri(bucket, models_prefix(run_id).rstrip("/"))},
        "ResourceConfig": {
            "InstanceType": instance_type,
            "InstanceCount": params.training_instance_count,
            "VolumeSizeInGB": TRAINING_VOLUME_GB,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": params.max_runtime_seconds},
        "Tags": resource_tags(run_id, stack_name),
    }


def start_training(sagemaker: Any, request: dict[str, Any]) -> str:
    """Create the job; a retried call that finds its own job already there counts as started."""
    try:
        call_aws("sagemaker", lambda: sagemaker.create_training_job(**request))
    except ClientError as exc:
        if error_code(exc) != "ResourceInUse":
            raise
    return str(request["TrainingJobName"])


def stop_if_in_progress(sagemaker: Any, job_name: str) -> bool:
    """Stop the job if it is still InProgress (it bills until it ends); False if it ended or never was."""
    try:
        described = call_aws("sagemaker", lambda: sagemaker.describe_training_job(TrainingJobName=job_name))
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise
    if described["TrainingJobStatus"] != "InProgress":
        return False
    call_aws("sagemaker", lambda: sagemaker.stop_training_job(TrainingJobName=job_name))
    return True


def training_status(sagemaker: Any, job_name: str) -> dict[str, Any]:
    """Done, still running, or `TrainingJobFailed` carrying SageMaker's FailureReason."""
    described = call_aws("sagemaker", lambda: sagemaker.describe_training_job(TrainingJobName=job_name))
    status = described["TrainingJobStatus"]
    if status in ("Failed", "Stopped"):
        reason = described.get("FailureReason") or f"training job ended {status}"
        raise TrainingJobFailed(f"training job {job_name} {status}: {reason}")
    result: dict[str, Any] = {"done": status == "Completed", "status": status}
    if status == "Completed":
        result["model_uri"] = described.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
        result["metrics"] = {
            metric["MetricName"]: metric["Value"] for metric in described.get("FinalMetricDataList", [])
        }
    return result
