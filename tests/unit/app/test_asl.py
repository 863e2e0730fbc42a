"""The state machine's shape: every Task a Lambda invoke with run_id/state_name, retried with backoff,
caught into the failure cleanup; every poll loop bounded; the execution fails with the original error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import REPO_ROOT
from .test_template import load_template

ASL = json.loads((REPO_ROOT / "statemachine" / "pipeline.asl.json").read_text())
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
FAILURE_CLEANUP = "Clean up after the failure"


def walk(
    states: dict[str, Any], parallel: str | None = None
) -> Iterator[tuple[str, dict[str, Any], str | None]]:
    """(name, state, enclosing Parallel state or None), through Parallel branches."""
    for name, state in states.items():
        yield name, state, parallel
        for branch in state.get("Branches", []):
            yield from walk(branch["States"], name)


ALL = list(walk(ASL["States"]))
TASKS = [(name, state, parallel) for name, state, parallel in ALL if state["Type"] == "Task"]


def test_state_names_are_unique_and_every_transition_exists() -> None:
    names = [name for name, _, _ in ALL]
    assert len(names) == len(set(names))
    for name, state, _ in ALL:
        targets = [state.get("Next"), state.get("Default")]
        targets += [choice["Next"] for choice in state.get("Choices", [])]
        targets += [catch["Next"] for catch in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in names, f"{name} -> {target}"


@pytest.mark.parametrize("name", [name for name, _, _ in TASKS])
def test_every_task_is_a_lambda_invoke_with_run_id_and_state_name(name: str) -> None:
    state = next(s for n, s, _ in TASKS if n == name)
    substitutions = load_template()["Resources"]["PipelineStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    assert state["Resource"] == "arn:${Partition}:states:::lambda:invoke"
    function = state["Parameters"]["FunctionName"]
    assert function.startswith("${") and function[2:-1] in substitutions
    logical_id = function[2:-1].removesuffix("Arn")
    assert load_template()["Resources"][logical_id]["Type"] == "AWS::Serverless::Function"
    payload = state["Parameters"]["Payload"]
    assert payload["run_id.$"] == "$$.Execution.Name"
    assert payload["state_name.$"] == "$$.State.Name"


@pytest.mark.parametrize("name", [name for name, _, _ in TASKS])
def test_every_task_retries_transient_errors_with_backoff(name: str) -> None:
    state = next(s for n, s, _ in TASKS if n == name)
    retried = {error for retrier in state["Retry"] for error in retrier["ErrorEquals"]}
    assert LAMBDA_TRANSIENT | {"TransientServiceError", "ResourceNotReady"} <= retried
    for retrier in state["Retry"]:
        assert retrier["BackoffRate"] > 1 and retrier["MaxAttempts"] >= 2 and retrier["IntervalSeconds"] >= 1
        assert "States.ALL" not in retrier["ErrorEquals"]


@pytest.mark.parametrize("name", [name for name, _, _ in TASKS if name != FAILURE_CLEANUP])
def test_every_task_catches_every_error_on_its_way_to_the_failure_cleanup(name: str) -> None:
    state, parallel = next((s, p) for n, s, p in TASKS if n == name)
    last = state["Catch"][-1]
    assert last["ErrorEquals"] == ["States.ALL"] and last["ResultPath"] == "$.error"
    if parallel is None:
        assert last["Next"] == FAILURE_CLEANUP
        return
    # A branch cannot leave its Parallel: it fails with the Task's own error, which the Parallel catches.
    (branch,) = [b["States"] for b in ASL["States"][parallel]["Branches"] if name in b["States"]]
    fail = dict(branch[last["Next"]])
    fail.pop("Comment", None)
    assert fail == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}
    assert ASL["States"][parallel]["Catch"][-1] == {
        "ErrorEquals": ["States.ALL"],
        "ResultPath": "$.error",
        "Next": FAILURE_CLEANUP,
    }


def test_failure_cleanup_always_ends_in_the_original_error() -> None:
    cleanup = ASL["States"][FAILURE_CLEANUP]
    assert cleanup["Parameters"]["Payload"]["outcome"] == "failed"
    assert cleanup["Parameters"]["Payload"]["error.$"] == "$.error"
    assert cleanup["Next"] == "Fail with the original error"
    (catch,) = cleanup["Catch"]
    assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == "Fail with the original error"
    assert catch["ResultPath"] != "$.error"
    assert ASL["States"]["Fail with the original error"] == {
        "Type": "Fail",
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_every_wait_polls_through_a_bounded_check() -> None:
    states = {name: state for name, state, _ in ALL}
    waits = [name for name, state in states.items() if state["Type"] == "Wait"]
    assert len(waits) >= 6
    for name in waits:
        wait = states[name]
        assert wait["SecondsPath"] == "$.run.Payload.parameters.poll_seconds"
        check = states[wait["Next"]]
        assert check["Type"] == "Task" and check["Parameters"]["FunctionName"] == "${CheckStatusFunctionArn}"
        assert (
            check["Parameters"]["Payload"]["max_attempts.$"] == "$.run.Payload.parameters.max_poll_attempts"
        )
        choice = states[check["Next"]]
        assert choice["Type"] == "Choice" and choice["Default"] == name


def test_every_substitution_is_used() -> None:
    text = json.dumps(ASL)
    substitutions = load_template()["Resources"]["PipelineStateMachine"]["Properties"][
        "DefinitionSubstitutions"
    ]
    for key in substitutions:
        assert "${" + key + "}" in text, key
