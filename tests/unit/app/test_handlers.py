"""Every handler, imported from `functions/<dir>/app.py` as Lambda would, run on its `events/` sample."""

from __future__ import annotations

import ast
import gzip
import json
from typing import Any

import pytest

from .conftest import EVENTS_DIR, FUNCTIONS_DIR, Aws, libsvm_rows, load_event, role_arn

EVENT_BUCKET = load_event("validate_input")["input"]["bucket"]
DIRECTORIES = sorted(path.name for path in FUNCTIONS_DIR.iterdir() if (path / "app.py").is_file())
DECORATORS = ["logger.inject_lambda_context", "tracer.capture_lambda_handler", "metrics.log_metrics"]


def test_every_function_has_a_sample_event() -> None:
    assert len(DIRECTORIES) >= 10
    assert sorted(path.stem for path in EVENTS_DIR.glob("*.json")) == DIRECTORIES


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_handlers_are_a_decorator_stack_and_one_call(directory: str) -> None:
    tree = ast.parse((FUNCTIONS_DIR / directory / "app.py").read_text())
    (handler,) = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert handler.name == "lambda_handler"
    names = [ast.unparse(d.func if isinstance(d, ast.Call) else d) for d in handler.decorator_list]
    assert names == DECORATORS
    (statement,) = handler.body
    assert isinstance(statement, ast.Return) and isinstance(statement.value, ast.Call)


@pytest.fixture
def env(aws: Aws) -> dict[str, str]:
    aws.s3.create_bucket(Bucket=EVENT_BUCKET)
    aws.s3.put_bucket_versioning(Bucket=EVENT_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return {
        "DATA_BUCKET": EVENT_BUCKET,
        "STACK_NAME": "clusterflow",
        "SAGEMAKER_ROLE_ARN": role_arn(aws),
        "GLUE_JOB_NAME": "clusterflow-spark",
        "POWERTOOLS_SERVICE_NAME": "clusterflow",
    }


def invoke(load_handler: Any, directory: str, env: dict[str, str], context: Any, event: Any = None) -> Any:
    module = load_handler(directory, env)
    return module.lambda_handler(event if event is not None else load_event(directory), context)


def test_trigger_handler(aws: Aws, env: dict[str, str], load_handler: Any, lambda_context: Any) -> None:
    definition = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    arn = aws.stepfunctions.create_state_machine(
        name="p", definition=definition, roleArn="arn:aws:iam::123456789012:role/r"
    )
    result = invoke(
        load_handler, "trigger", env | {"STATE_MACHINE_ARN": arn["stateMachineArn"]}, lambda_context
    )
    assert [r["status"] for r in result] == ["started"]


def test_pipeline_handlers_in_state_machine_order(
    aws: Aws, env: dict[str, str], load_handler: Any, lambda_context: Any
) -> None:
    validate_event = load_event("validate_input")
    key = validate_event["input"]["key"]
    version = aws.s3.put_object(Bucket=EVENT_BUCKET, Key=key, Body=gzip.compress(libsvm_rows(5)))["VersionId"]
    validate_event["input"]["version_id"] = version
    run = invoke(load_handler, "validate_input", env, lambda_context, validate_event)
    assert run["rows"] == 5 and run["run_id"] == validate_event["run_id"]

    aws.glue.create_job(
        Name="clusterflow-spark", Role="arn:aws:iam::123456789012:role/g", Command={"Name": "glueetl"}
    )
    spark_job = invoke(
        load_handler, "start_spark_job", env, lambda_context, load_event("start_spark_job") | {"run": run}
    )
    assert spark_job["kind"] == "spark" and spark_job["engine"] == "glue"

    training_job = invoke(
        load_handler, "start_training", env, lambda_context, load_event("start_training") | {"run": run}
    )
    checked = invoke(
        load_handler, "check_status", env, lambda_context, load_event("check_status") | {"job": training_job}
    )
    assert checked["done"] is True and checked["model_uri"]

    deployed = invoke(
        load_handler, "deploy_endpoint", env, lambda_context, load_event("deploy_endpoint") | {"run": run}
    )
    assert deployed["kind"] == "endpoint"

    recorded = invoke(
        load_handler, "record_results", env, lambda_context, load_event("record_results") | {"run": run}
    )
    assert recorded["status"] == "SUCCEEDED"
    latest = json.loads(aws.s3.get_object(Bucket=EVENT_BUCKET, Key="runs/latest.json")["Body"].read())
    assert latest["run_id"] == run["run_id"]

    report = invoke(load_handler, "cleanup", env, lambda_context)
    assert report["leaked"] == [] and len(report["deleted"]) == 3

    reaped = invoke(load_handler, "reaper", env, lambda_context)
    assert reaped == {"deleted": [], "kept": []}


def test_cluster_handler_answers_http(
    aws: Aws, env: dict[str, str], load_handler: Any, lambda_context: Any
) -> None:
    response = invoke(load_handler, "cluster", env, lambda_context)
    assert response["statusCode"] == 404
    assert response["headers"]["content-type"] == "application/json"
    assert "no trained model" in json.loads(response["body"])["error"]


def test_bad_environment_fails_at_cold_start(env: dict[str, str], load_handler: Any) -> None:
    from clusterflow.app.faults import ConfigurationError

    with pytest.raises(ConfigurationError, match="ENDPOINT_POLICY"):
        load_handler("reaper", env | {"ENDPOINT_POLICY": "NEVER"})
