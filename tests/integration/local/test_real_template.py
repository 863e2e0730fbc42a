"""The repository's own template.yaml and ASL, deployed offline: the contracts the local cloud relies on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from clusterflow.local.cloud import LocalCloud
from clusterflow.local.deployment import load_deployment

STATE_TASK = "arn:aws:states:::lambda:invoke"


def _task_states(states: dict) -> Iterator[tuple[str, dict]]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from _task_states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from _task_states(processor["States"])


def test_every_task_is_a_lambda_invoke_of_a_deployed_function_with_run_id_and_state_name(repo_root) -> None:
    deployment = load_deployment(repo_root / "template.yaml", stack_name="cf-contract")
    arns = {spec.arn for spec in deployment.functions.values()}
    tasks = list(_task_states(deployment.state_machine.definition["States"]))
    assert tasks
    for name, state in tasks:
        assert state["Resource"].endswith(STATE_TASK.split("::", 1)[1]), name
        parameters = state["Parameters"]
        assert parameters["FunctionName"] in arns, f"{name}: {parameters['FunctionName']}"
        assert parameters["Payload"]["run_id.$"] == "$$.Execution.Name", name
        assert parameters["Payload"]["state_name.$"] == "$$.State.Name", name
    for spec in deployment.functions.values():
        assert spec.handler_file.is_file() and spec.handler_name == "lambda_handler"
        assert spec.environment.get("DATA_BUCKET") == deployment.data_bucket.name


@pytest.fixture(scope="module")
def real_cloud(repo_root, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    with LocalCloud(
        repo_root / "template.yaml",
        stack_name="cf-real",
        work_dir=tmp_path_factory.mktemp("real"),
        parameter_overrides={"PollIntervalSeconds": "1"},
    ) as cloud:
        yield cloud


def test_upload_triggers_one_execution_and_a_duplicate_event_none(real_cloud: LocalCloud) -> None:
    s3, sfn = real_cloud.client("s3"), real_cloud.client("stepfunctions")
    s3.put_object(Bucket=real_cloud.data_bucket, Key="incoming/notes.txt", Body=b"not a trigger")
    s3.put_object(Bucket=real_cloud.data_bucket, Key="incoming/digits.libsvm", Body=b"3 1:1 784:2\n")
    real_cloud.events.wait_idle()
    assert real_cloud.events.failures == []
    executions = sfn.list_executions(stateMachineArn=real_cloud.state_machine_arn)["executions"]
    assert len(executions) == 1
    started = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert (started["bucket"], started["key"]) == (real_cloud.data_bucket, "incoming/digits.libsvm")
    assert started["parameters"]["poll_seconds"] == 1
    # the same S3 event delivered again (at-least-once) starts nothing new
    trigger = real_cloud.deployment.rules["TriggerFunctionUpload"]
    event = next(payload for arn, payload in real_cloud.events.delivered if arn == trigger.targets[0].arn)
    real_cloud.events.deliver([{"Arn": trigger.targets[0].arn}], event)
    real_cloud.events.wait_idle()
    assert len(sfn.list_executions(stateMachineArn=real_cloud.state_machine_arn)["executions"]) == 1
    deadline = time.monotonic() + 30
    while not any(i.state_name for i in real_cloud.lambdas.invocations):
        assert time.monotonic() < deadline, "the execution never invoked its first state"
        time.sleep(0.05)
    first = next(i for i in real_cloud.lambdas.invocations if i.state_name)
    assert first.state_name == real_cloud.deployment.state_machine.definition["StartAt"]
    assert first.run_id == executions[0]["name"]
