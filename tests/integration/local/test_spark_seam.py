"""Seam 4 against moto 5.2.5: Glue and EMR Serverless runs execute spark_jobs/project.py on local Spark."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clusterflow.local.cloud import LocalCloud

from .conftest import STANDIN

pytestmark = [pytest.mark.spark, pytest.mark.slow]
GLUE_JOB = "cf-spark-project"


def _libsvm(rows: int, bad_line: int | None = None) -> bytes:
    lines = []
    for i in range(rows):
        index = 0 if i + 1 == bad_line else 1
        lines.append(f"{i % 10} {index}:{i + 1} 300:{2 * i} 784:7")
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def cloud(repo_root, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(
        STANDIN,
        stack_name="cf-spark",
        engines=True,
        parameter_overrides={"UseEmr": "true"},
        spark_scripts_dir=repo_root / "spark_jobs",
        spark_quick_start=True,
        work_dir=tmp_path_factory.mktemp("spark"),
    ) as up:
        s3 = up.client("s3")
        s3.put_object(Bucket=up.data_bucket, Key="incoming/good.libsvm", Body=_libsvm(12))
        s3.put_object(Bucket=up.data_bucket, Key="incoming/bad.libsvm", Body=_libsvm(12, bad_line=5))
        yield up


def _keys(cloud: LocalCloud, prefix: str) -> list[str]:
    listed = cloud.client("s3").list_objects_v2(Bucket=cloud.data_bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_glue_run_executes_the_script_and_uploads_its_output(cloud: LocalCloud) -> None:
    glue, bucket = cloud.client("glue"), cloud.data_bucket
    run_id = glue.start_job_run(
        JobName=GLUE_JOB,
        Arguments={
            "--mode": "prepare",
            "--input_uri": f"s3://{bucket}/incoming/good.libsvm",
            "--output_uri": f"s3://{bucket}/runs/r2/staging/pca-train/",
        },
    )["JobRunId"]
    assert glue.get_job_run(JobName=GLUE_JOB, RunId=run_id)["JobRun"]["JobRunState"] == "RUNNING"
    assert cloud.list_resources_of_run("r2")["spark_runs_in_progress"] == [f"glue:{GLUE_JOB}/{run_id}"]
    cloud.spark.wait_idle(300)
    run = glue.get_job_run(JobName=GLUE_JOB, RunId=run_id)["JobRun"]
    assert run["JobRunState"] == "SUCCEEDED", run.get("ErrorMessage")
    shards = [k for k in _keys(cloud, "runs/r2/staging/pca-train/") if k.endswith(".pbr")]
    assert shards and all(k.rsplit("/", 1)[-1].startswith("part-") for k in shards)
    assert _keys(cloud, "incoming/") == ["incoming/bad.libsvm", "incoming/good.libsvm"]  # inputs not re-put
    assert cloud.list_resources_of_run("r2")["spark_runs_in_progress"] == []


def test_glue_run_fails_with_the_jobs_message(cloud: LocalCloud) -> None:
    glue, bucket = cloud.client("glue"), cloud.data_bucket
    run_id = glue.start_job_run(
        JobName=GLUE_JOB,
        Arguments={
            "--mode": "prepare",
            "--input_uri": f"s3://{bucket}/incoming/bad.libsvm",
            "--output_uri": f"s3://{bucket}/runs/r3/staging/pca-train/",
        },
    )["JobRunId"]
    cloud.spark.wait_idle(300)
    run = glue.get_job_run(JobName=GLUE_JOB, RunId=run_id)["JobRun"]
    assert run["JobRunState"] == "FAILED"
    assert run["ErrorMessage"].startswith(f"s3://{bucket}/incoming/bad.libsvm, line 5: ")


def test_emr_serverless_run_uses_the_entry_point_arguments(cloud: LocalCloud) -> None:
    emr, bucket = cloud.client("emr-serverless"), cloud.data_bucket
    application_id = cloud.deployment.emr_applications["SparkApplication"].id
    assert emr.get_application(applicationId=application_id)["application"]["applicationId"] == application_id
    started = emr.start_job_run(
        applicationId=application_id,
        executionRoleArn="arn:aws:iam::123456789012:role/cf-spark-sagemaker",
        name="r4-prepare",
        jobDriver={
            "sparkSubmit": {
                "entryPoint": f"s3://{bucket}/code/project.py",
                "entryPointArguments": [
                    "--mode",
                    "prepare",
                    "--input_uri",
                    f"s3://{bucket}/incoming/good.libsvm",
                    "--num_features",
                    "784",
                    "--output_uri",
                    f"s3://{bucket}/runs/r4/staging/pca-train/",
                ],
            }
        },
    )
    cloud.spark.wait_idle(300)
    run = emr.get_job_run(applicationId=application_id, jobRunId=started["jobRunId"])["jobRun"]
    assert run["state"] == "SUCCESS", run.get("stateDetails")
    assert any(k.endswith(".pbr") for k in _keys(cloud, "runs/r4/staging/pca-train/"))
