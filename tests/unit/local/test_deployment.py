"""load_deployment reads the stand-in template: every resource resolved against local names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clusterflow.local.deployment import load_deployment
from clusterflow.local.template import TemplateError, load_template

STANDIN = Path(__file__).resolve().parents[2] / "integration" / "local" / "standin" / "template.yaml"
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def deployment():
    return load_deployment(STANDIN, stack_name="cf-test", region="eu-west-1", account=ACCOUNT)


def test_short_tags_become_long_form_intrinsics() -> None:
    document = load_template(STANDIN)
    assert document["Resources"]["DataBucket"]["Properties"]["BucketName"] == {
        "Fn::Sub": "${AWS::StackName}-data-${AWS::AccountId}"
    }
    assert document["Resources"]["WorkFunction"]["Properties"]["Environment"]["Variables"][
        "SAGEMAKER_ROLE_ARN"
    ] == {"Fn::GetAtt": ["SageMakerRole", "Arn"]}


def test_every_function_is_read_with_globals_merged(deployment) -> None:
    assert set(deployment.functions) == {
        "TriggerFunction",
        "WorkFunction",
        "CheckStatusFunction",
        "CleanupFunction",
        "ReaperFunction",
    }
    trigger = deployment.function("TriggerFunction")
    assert trigger.name == "cf-test-TriggerFunction"
    assert trigger.arn == f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:cf-test-TriggerFunction"
    assert trigger.handler_file == STANDIN.parent / "functions" / "trigger" / "app.py"
    assert trigger.handler_name == "lambda_handler"
    assert (trigger.timeout, trigger.memory_size, trigger.runtime) == (30, 256, "python3.11")
    assert trigger.environment == {
        "DATA_BUCKET": f"cf-test-data-{ACCOUNT}",
        "STACK_NAME": "cf-test",
        "POLL_SECONDS": "1",
        "GLUE_JOB_NAME": "cf-test-project",
        "SPARK_ENGINE": "glue",
        "STATE_MACHINE_ARN": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:cf-test-Pipeline",
    }
    assert deployment.function("WorkFunction").environment["SAGEMAKER_ROLE_ARN"] == (
        f"arn:aws:iam::{ACCOUNT}:role/cf-test-sagemaker"
    )
    assert deployment.function("CheckStatusFunction").url_auth_type == "AWS_IAM"
    assert trigger.role_arn == f"arn:aws:iam::{ACCOUNT}:role/cf-test-TriggerFunctionRole"


def test_state_machine_definition_has_substitutions_applied(deployment) -> None:
    machine = deployment.state_machine
    text = json.dumps(machine.definition)
    assert "${" not in text
    work = machine.definition["States"]["Work"]["Parameters"]["FunctionName"]
    assert work == deployment.function("WorkFunction").arn
    assert machine.role_arn.endswith(":role/cf-test-PipelineRole")


def test_rules_come_from_sam_events(deployment) -> None:
    upload = deployment.rules["TriggerFunctionUpload"]
    assert upload.event_pattern["detail"]["object"]["key"] == [
        {"wildcard": "incoming/*.libsvm"},
        {"wildcard": "incoming/*.libsvm.gz"},
    ]
    assert upload.event_pattern["detail"]["bucket"]["name"] == [f"cf-test-data-{ACCOUNT}"]
    assert [t.arn for t in upload.targets] == [deployment.function("TriggerFunction").arn]
    hourly = deployment.rules["ReaperFunctionHourly"]
    assert hourly.schedule == "rate(1 hour)" and hourly.event_pattern is None


def test_bucket_glue_job_outputs_and_conditions(deployment) -> None:
    bucket = deployment.data_bucket
    assert (bucket.name, bucket.versioned, bucket.eventbridge) == (f"cf-test-data-{ACCOUNT}", True, True)
    job = deployment.glue_jobs["SparkJob"]
    assert job.script_location == f"s3://cf-test-data-{ACCOUNT}/code/project.py"
    assert job.default_arguments == {"--num_features": "784"}
    assert deployment.emr_applications == {}
    assert deployment.outputs["PipelineArn"] == deployment.state_machine.arn
    assert deployment.outputs["ClusterUrl"].endswith(".lambda-url.eu-west-1.on.aws/")


def test_parameter_override_flips_a_condition() -> None:
    deployment = load_deployment(
        STANDIN,
        stack_name="cf-emr",
        parameter_overrides={"UseEmr": "true"},
        physical_ids={"SparkApplication": "00fixedid"},
    )
    assert deployment.function("WorkFunction").environment["SPARK_ENGINE"] == "emr-serverless"
    app = deployment.emr_applications["SparkApplication"]
    assert app.id == "00fixedid" and app.release_label == "emr-7.2.0"


def test_user_errors_name_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "template.yaml"
    bad.write_text(
        "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      BucketName: !Ref Nope\n"
    )
    with pytest.raises(TemplateError, match="Ref to 'Nope'"):
        load_deployment(bad, stack_name="x")
    bad.write_text("Resources: [\n")
    with pytest.raises(TemplateError, match=r"template.yaml, line \d+"):
        load_deployment(bad, stack_name="x")
    with pytest.raises(TemplateError, match="undeclared"):
        load_deployment(STANDIN, stack_name="x", parameter_overrides={"Bogus": "1"})
