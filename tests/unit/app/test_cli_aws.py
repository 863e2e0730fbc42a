"""`clusterflow aws publish-package` and `clusterflow aws cleanup` against moto."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from click.testing import CliRunner

from clusterflow.app.packaging import SCRIPT_KEY, build_package_zip
from clusterflow.cli import cli

from .conftest import REPO_ROOT, Aws, role_arn
from .test_endpoints_cleanup_reaper import deploy


def test_package_zip_holds_what_the_spark_job_imports_and_is_reproducible() -> None:
    body = build_package_zip()
    assert body == build_package_zip()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    for needed in (
        "clusterflow/__init__.py",
        "clusterflow/errors.py",
        "clusterflow/spark/transforms.py",
        "clusterflow/formats/libsvm.py",
    ):
        assert needed in names
    assert not any(
        name.startswith(("clusterflow/local/", "clusterflow/cli/", "clusterflow/app/")) for name in names
    )


def test_publish_package_uploads_zip_and_script(aws: Aws) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "aws",
            "publish-package",
            "--bucket",
            aws.bucket,
            "--script",
            str(REPO_ROOT / "spark_jobs" / "project.py"),
        ],
    )
    assert result.exit_code == 0, result.output
    uris = json.loads(result.output)
    assert uris["package"] == f"s3://{aws.bucket}/artifacts/clusterflow.zip"
    zipped = aws.s3.get_object(Bucket=aws.bucket, Key="artifacts/clusterflow.zip")["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(zipped)).testzip() is None
    script = aws.s3.get_object(Bucket=aws.bucket, Key=SCRIPT_KEY)["Body"].read()
    assert script == (REPO_ROOT / "spark_jobs" / "project.py").read_bytes()


def test_cleanup_command_removes_a_runs_endpoints(aws: Aws, make_settings: Any) -> None:
    settings = make_settings(SAGEMAKER_ROLE_ARN=role_arn(aws))
    deploy(aws, settings, "run-cli", "kmeans")
    args = ["aws", "cleanup", "--bucket", aws.bucket, "--run-id", "run-cli", "--resource-prefix", "cft"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["deleted"]) == 3
    assert aws.sagemaker.list_endpoints()["Endpoints"] == []
