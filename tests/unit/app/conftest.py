"""Fixtures for the AWS application's unit tests: moto clients (parameter validation on), settings, the
sample events in `events/`, a fake Lambda context and handler loading by file path."""

from __future__ import annotations

import importlib.util
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from clusterflow.app.config import Settings, settings, settings_from

REPO_ROOT = Path(__file__).resolve().parents[3]
EVENTS_DIR = REPO_ROOT / "events"
FUNCTIONS_DIR = REPO_ROOT / "functions"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def load_event(name: str) -> dict[str, Any]:
    """The one way tests read `events/<name>.json` (what `sam local invoke -e` uses)."""
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return loaded


@dataclass
class Aws:
    s3: Any
    sagemaker: Any
    glue: Any
    emr: Any
    stepfunctions: Any
    iam: Any
    runtime: Any
    bucket: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)


@pytest.fixture(scope="session")
def clients() -> dict[str, Any]:
    """Built once (loading service models is the slow part); moto intercepts them inside each test's mock."""
    services = ("s3", "sagemaker", "glue", "emr-serverless", "stepfunctions", "iam", "sagemaker-runtime")
    return {service: boto3.client(service, region_name=REGION) for service in services}


@pytest.fixture
def aws(clients: dict[str, Any]) -> Iterator[Aws]:
    # Explicit: a local cloud elsewhere in this worker turns execution on; these tests need it off.
    config = {"stepfunctions": {"execute_state_machine": False}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        s3 = clients["s3"]
        bucket = f"data-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield Aws(
            s3=s3,
            sagemaker=clients["sagemaker"],
            glue=clients["glue"],
            emr=clients["emr-serverless"],
            stepfunctions=clients["stepfunctions"],
            iam=clients["iam"],
            runtime=clients["sagemaker-runtime"],
            bucket=bucket,
        )


def role_arn(aws: Aws, name: str = "sagemaker-role") -> str:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sagemaker.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    return str(aws.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])


@pytest.fixture
def make_settings(aws: Aws) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        environ = {
            "DATA_BUCKET": aws.bucket,
            "STACK_NAME": "cf-test",
            "RESOURCE_PREFIX": "cft",
            "SAGEMAKER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/sagemaker-role",
            "GLUE_JOB_NAME": "cf-test-spark",
            "AWS_REGION": REGION,
            "POLL_SECONDS": "1",
        }
        environ.update(overrides)
        return settings_from(environ)

    return make


class FakeLambdaContext:
    """The fields of the Lambda context that Powertools reads."""

    function_name = "test-function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "2026/11/24/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_handler(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, dict[str, str]], ModuleType]:
    """Import `functions/<dir>/app.py` as a fresh module (a cold start) with the given environment."""

    def load(directory: str, environ: dict[str, str]) -> ModuleType:
        for key, value in environ.items():
            monkeypatch.setenv(key, value)
        settings.cache_clear()
        path = FUNCTIONS_DIR / directory / "app.py"
        spec = importlib.util.spec_from_file_location(f"handler_{directory}_{uuid.uuid4().hex}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load  # type: ignore[misc]
    settings.cache_clear()


def libsvm_rows(count: int, *, features: int = 784, seed: int = 0) -> bytes:
    """`count` valid libsvm rows (1-based ascending indices, values 1..255)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = []
    for row in range(count):
        indices = np.sort(rng.choice(np.arange(1, features + 1), size=20, replace=False))
        pairs = " ".join(f"{i}:{int(rng.integers(1, 256))}" for i in indices)
        lines.append(f"{row % 10} {pairs}")
    return ("\n".join(lines) + "\n").encode()
