"""Per-state timings and the original error, read from real execution histories of moto's interpreter."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from clusterflow.local.report import execution_failure, readable_cause, state_timings, state_visits

ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def sfn() -> Iterator[Any]:
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        yield boto3.client("stepfunctions", region_name="us-east-1")


def _run(sfn: Any, definition: dict[str, Any]) -> list[dict[str, Any]]:
    created = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)
    arn = created["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, name="e", input="{}")["executionArn"]
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not end"
        time.sleep(0.05)
    events: list[dict[str, Any]] = sfn.get_execution_history(executionArn=execution)["events"]
    return events


def test_succeeded_run_has_timings_and_no_failure(sfn: Any) -> None:
    events = _run(
        sfn,
        {
            "StartAt": "Prepare",
            "States": {
                "Prepare": {"Type": "Pass", "Next": "Pause"},
                "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
                "Done": {"Type": "Succeed"},
            },
        },
    )
    timings = state_timings(state_visits(events))
    assert [row.name for row in timings] == ["Prepare", "Pause", "Done"]
    assert timings[1].seconds >= 0.9
    assert all(row.status == "succeeded" for row in timings[:2])
    assert execution_failure(events) is None


def test_caught_task_failure_is_the_original_error_not_the_fail_state(sfn: Any) -> None:
    events = _run(
        sfn,
        {
            "StartAt": "Train",
            "States": {
                "Train": {
                    "Type": "Task",
                    # moto answers any Lambda invoke; an S3 call on a missing bucket fails for real
                    "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                    "Parameters": {"Bucket": "no-such-bucket", "Key": "k"},
                    "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Cleanup"}],
                    "End": True,
                },
                "Cleanup": {"Type": "Pass", "Next": "Failed"},
                "Failed": {"Type": "Fail", "Error": "PipelineFailed", "Cause": "see cleanup"},
            },
        },
    )
    failure = execution_failure(events)
    assert failure is not None
    assert failure.state == "Train"
    assert failure.error == "s3.NoSuchBucketException"
    assert "Train" in failure.describe()
    timings = {row.name: row for row in state_timings(state_visits(events))}
    assert timings["Train"].status == "failed"
    assert timings["Cleanup"].status == "succeeded"


def test_fail_state_alone_gives_the_execution_error(sfn: Any) -> None:
    events = _run(sfn, {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad", "Cause": "why"}}})
    failure = execution_failure(events)
    assert failure is not None
    assert (failure.error, failure.cause) == ("Bad", "why")


def _history(*rows: tuple[str, int, int | None, dict[str, Any]]) -> list[dict[str, Any]]:
    """Events (type, second, previous event id or None for the one before, details) numbered from 1."""
    events = []
    for number, (kind, second, previous, details) in enumerate(rows, start=1):
        events.append(
            {
                "id": number,
                "previousEventId": number - 1 if previous is None else previous,
                "type": kind,
                "timestamp": datetime(2026, 1, 1) + timedelta(seconds=second),
                **details,
            }
        )
    return events


def _entered(name: str) -> dict[str, Any]:
    return {"stateEnteredEventDetails": {"name": name}}


def _exited(name: str) -> dict[str, Any]:
    return {"stateExitedEventDetails": {"name": name}}


def test_retried_failure_that_then_succeeds_is_not_an_error() -> None:
    failed = {"taskFailedEventDetails": {"error": "Lambda.ServiceException", "cause": "x"}}
    events = _history(
        ("ExecutionStarted", 0, None, {}),
        ("TaskStateEntered", 0, None, _entered("Check")),
        ("TaskScheduled", 0, None, {}),
        ("TaskFailed", 1, None, failed),
        ("TaskScheduled", 2, None, {}),
        ("TaskSucceeded", 3, None, {}),
        ("TaskStateExited", 3, None, _exited("Check")),
        ("ExecutionSucceeded", 3, None, {}),
    )
    visits = state_visits(events)
    assert not visits[0].failed
    assert state_timings(visits)[0].seconds == 3.0
    assert execution_failure(events) is None


def test_poll_loop_visits_are_summed_per_state() -> None:
    rows: list[tuple[str, int, int | None, dict[str, Any]]] = [("ExecutionStarted", 0, None, {})]
    for i in range(3):
        rows.append(("WaitStateEntered", 2 * i, None, _entered("Wait")))
        rows.append(("WaitStateExited", 2 * i + 1, None, _exited("Wait")))
    timings = state_timings(state_visits(_history(*rows)))
    assert len(timings) == 1
    assert (timings[0].seconds, timings[0].visits) == (3.0, 3)


def test_interleaved_parallel_branches_keep_each_failure_with_its_state() -> None:
    failed = {"taskFailedEventDetails": {"error": "SimulatedFault", "cause": "injected"}}
    events = _history(
        ("ExecutionStarted", 0, None, {}),  # 1
        ("ParallelStateEntered", 0, None, _entered("Both")),  # 2
        ("ParallelStateStarted", 0, None, {}),  # 3
        ("TaskStateEntered", 1, 3, _entered("Left")),  # 4
        ("TaskStateEntered", 1, 3, _entered("Right")),  # 5
        ("TaskScheduled", 1, 4, {}),  # 6: Left
        ("TaskScheduled", 1, 5, {}),  # 7: Right
        ("TaskSucceeded", 2, 7, {}),  # 8: Right
        ("TaskFailed", 4, 6, failed),  # 9: Left
        ("TaskStateExited", 4, 8, _exited("Right")),  # 10
        ("ParallelStateFailed", 5, 9, {}),  # 11
        ("ParallelStateExited", 5, 11, _exited("Both")),  # 12
        ("ExecutionFailed", 5, None, {"executionFailedEventDetails": {"error": "SimulatedFault"}}),
    )
    visits = {visit.name: visit for visit in state_visits(events)}
    assert visits["Left"].failed and not visits["Right"].failed
    assert (visits["Both"].left - visits["Both"].entered).total_seconds() == 5.0
    failure = execution_failure(events)
    assert failure is not None and failure.state == "Left"


def test_lambda_cause_json_gives_its_message() -> None:
    cause = json.dumps({"errorType": "InputRejected", "errorMessage": "line 3: index 0"})
    assert readable_cause(cause) == "line 3: index 0"
    assert readable_cause("plain text") == "plain text"


def test_parallel_failure_prefers_the_branch_error_the_execution_ended_with() -> None:
    first = {"taskFailedEventDetails": {"error": "Lambda.ServiceException", "cause": "injected"}}
    second = {"taskFailedEventDetails": {"error": "PollLimitExceeded", "cause": "240 polls"}}
    events = _history(
        ("ExecutionStarted", 0, None, {}),  # 1
        ("ParallelStateEntered", 0, None, _entered("Both")),  # 2
        ("TaskStateEntered", 1, 2, _entered("Deploy")),  # 3
        ("TaskStateEntered", 1, 2, _entered("Poll")),  # 4
        ("TaskScheduled", 1, 3, {}),  # 5
        ("TaskFailed", 2, 5, first),  # 6: Deploy, still retrying when the Parallel ends
        ("TaskScheduled", 2, 4, {}),  # 7
        ("TaskFailed", 3, 7, second),  # 8: Poll gives up first
        ("ExecutionFailed", 4, None, {"executionFailedEventDetails": {"error": "PollLimitExceeded"}}),
    )
    failure = execution_failure(events)
    assert failure is not None
    assert (failure.state, failure.error) == ("Poll", "PollLimitExceeded")
