"""LambdaRuntime runs handlers in-process; installed, it answers moto's Lambda Invoke (seam 1)."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from clusterflow.local.deployment import load_deployment
from clusterflow.local.lambdas import FaultPlan, LambdaRuntime, LambdaServiceError

STANDIN = Path(__file__).resolve().parents[2] / "integration" / "local" / "standin" / "template.yaml"


@pytest.fixture()
def deployment(tmp_path: Path):
    template = tmp_path / "template.yaml"
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(
        "import os\n"
        "COLD = os.environ.get('GREETING')\n"
        "def lambda_handler(event, context):\n"
        "    if event.get('boom'):\n"
        "        raise KeyError('missing thing')\n"
        "    return {'greeting': os.environ['GREETING'], 'cold': COLD, 'name': context.function_name,\n"
        "            'remaining_ok': context.get_remaining_time_in_millis() > 0, 'event': event}\n"
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "app.py").write_text(
        "import os\ndef lambda_handler(event, context):\n    return os.environ.get('GREETING')\n"
    )
    template.write_text(
        "Globals:\n  Function:\n    Environment:\n      Variables:\n        SHARED: yes\n"
        "Resources:\n"
        "  HelloFunction:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: fn/\n      Handler: app.lambda_handler\n"
        "      Environment:\n        Variables:\n          GREETING: hello\n"
        "  OtherFunction:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      CodeUri: other/\n      Handler: app.lambda_handler\n"
    )
    return load_deployment(template, stack_name="t")


def test_handler_runs_with_its_environment_which_is_restored(deployment) -> None:
    os.environ.pop("GREETING", None)
    runtime = LambdaRuntime(deployment, base_environment={"BASE": "1"})
    result = runtime.invoke("t-HelloFunction", {"x": 1})
    body = json.loads(result.payload)
    assert result.function_error is None
    assert body == {
        "greeting": "hello",
        "cold": "hello",
        "name": "t-HelloFunction",
        "remaining_ok": True,
        "event": {"x": 1},
    }
    # A key the process lacked stays set until uninstall (popping it races with threads copying
    # os.environ), so a later function may see it; uninstall puts the process environment back.
    assert json.loads(runtime.invoke("t-OtherFunction", {}).payload) == "hello"
    runtime.uninstall()
    assert "GREETING" not in os.environ and "BASE" not in os.environ


def test_exception_becomes_lambda_error_payload(deployment) -> None:
    runtime = LambdaRuntime(deployment, base_environment={})
    result = runtime.invoke("t-HelloFunction", {"boom": True})
    body = json.loads(result.payload)
    assert result.function_error == "Unhandled"
    assert body["errorType"] == "KeyError" and "missing thing" in body["errorMessage"]
    assert runtime.invocations[-1].error == "KeyError"


def test_fail_at_and_transient_faults(deployment) -> None:
    runtime = LambdaRuntime(
        deployment,
        base_environment={},
        faults=FaultPlan(fail_at=frozenset({"Broken"}), transient={"Flaky": 2}),
    )
    for _ in range(3):
        with pytest.raises(LambdaServiceError) as caught:
            runtime.invoke("t-HelloFunction", {"state_name": "Broken", "run_id": "r1"})
        assert caught.value.error_type == "ServiceException" and caught.value.code == 500
    for attempt in range(3):
        event = {"state_name": "Flaky", "run_id": "r1"}
        if attempt < 2:
            with pytest.raises(LambdaServiceError, match="simulated fault"):
                runtime.invoke("t-HelloFunction", event)
        else:
            assert runtime.invoke("t-HelloFunction", event).function_error is None
    named = LambdaRuntime(
        deployment,
        base_environment={},
        faults=FaultPlan(fail_at=frozenset({"Broken"}), fail_error="SimulatedFault"),
    )
    result = named.invoke("t-HelloFunction", {"state_name": "Broken"})
    assert result.function_error == "Unhandled"
    assert json.loads(result.payload)["errorType"] == "SimulatedFault"


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "")
    return buffer.getvalue()


@mock_aws(config={"lambda": {"use_docker": False}})
def test_seam_replaces_moto_lambda_invoke(deployment) -> None:
    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    client = boto3.client("lambda", region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}))
    client.create_function(
        FunctionName="t-HelloFunction",
        Runtime="python3.11",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": _stub_zip()},
    )
    runtime = LambdaRuntime(deployment, base_environment={}, faults=FaultPlan(fail_at=frozenset({"Broken"})))
    runtime.install()
    try:
        answer = client.invoke(FunctionName="t-HelloFunction", Payload=json.dumps({"k": "v"}))
        assert json.loads(answer["Payload"].read())["event"] == {"k": "v"}
        failed = client.invoke(FunctionName="t-HelloFunction", Payload=json.dumps({"boom": 1}))
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read())["errorType"] == "KeyError"
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName="t-HelloFunction", Payload=json.dumps({"state_name": "Broken"}))
        assert caught.value.response["Error"]["Code"] == "ServiceException"
    finally:
        runtime.uninstall()
    canned = client.invoke(FunctionName="t-HelloFunction", Payload=json.dumps({"k": "v"}))
    assert "greeting" not in canned["Payload"].read().decode()
