"""Issue 5 faults: every Task state of the ASL, failing on every attempt, ends the run FAILED with its
original error and nothing left behind. Engines off (moto's canned SageMaker and Glue) keeps it fast;
the ASL's Retry policies run in full, only their sleeps are shortened (RETRY_TIME_SCALE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clusterflow.cli import cli
from clusterflow.local.lambdas import SERVICE_FAULT
from clusterflow.local.run import RunOptions, flatten_resources, run_local

from .conftest import COVERAGE, SmallMnist, asl_task_states, is_cleanup_state, read_metrics

FAULT_STATES = sorted(name for name, state in asl_task_states().items() if not is_cleanup_state(state))


def _options(train: Path, out: Path, **extra: Any) -> RunOptions:
    return RunOptions(
        train=train, out_dir=out, k=10, components=10, poll_seconds=0, engines=False, timeout_s=180, **extra
    )


def _upload_copy(small_mnist: SmallMnist, folder: Path, name: str) -> Path:
    """A distinct key per run, so each upload starts its own execution in the shared cloud."""
    copy = folder / f"{name}.libsvm"
    copy.write_bytes(small_mnist.train.read_bytes())
    return copy


def _retry_attempts(state: dict[str, Any], error: str) -> int:
    for retrier in state.get("Retry", []):
        if error in retrier["ErrorEquals"] or "States.ALL" in retrier["ErrorEquals"]:
            return 1 + int(retrier.get("MaxAttempts", 3))
    return 1


def test_every_task_state_is_walked() -> None:
    assert len(FAULT_STATES) >= 8
    assert "Validate the input object" in FAULT_STATES
    assert not any("Clean up" in name or "Delete the staging" in name for name in FAULT_STATES)


@pytest.mark.parametrize("state_name", FAULT_STATES)
def test_fault_at_state_fails_with_original_error_and_leaves_nothing(
    state_name: str,
    control_cloud: Any,
    small_mnist: SmallMnist,
    tmp_path: Path,
    reliability_log: list[dict[str, Any]],
) -> None:
    train = _upload_copy(small_mnist, tmp_path, "walk-" + state_name.replace(" ", "-").replace("?", ""))
    outcome = run_local(
        _options(train, tmp_path / "out", fail_at=(state_name,), final_cleanup=False, **COVERAGE),
        cloud=control_cloud,
    )
    metrics = read_metrics(tmp_path / "out")
    attempts = [
        call
        for call in control_cloud.lambdas.invocations
        if call.run_id == outcome.run_id and call.state_name == state_name
    ]
    reliability_log.append(
        {
            "kind": "fault",
            "case": state_name,
            "exit_code": outcome.exit_code,
            "status": metrics["execution_status"],
            "error": metrics.get("error"),
            "attempts": len(attempts),
            "left_by_pipeline": outcome.pipeline_leftovers,
            "leaked": metrics["leaked_resources"],
        }
    )
    assert outcome.exit_code == 1, outcome.message
    assert metrics["execution_status"] == "FAILED"
    assert SERVICE_FAULT in metrics["error"] and state_name in metrics["error"], metrics["error"]
    # the pipeline's own failure cleanup left nothing (the run's safety net was off)
    assert outcome.pipeline_leftovers == [] and metrics["leaked_resources"] == []
    assert len(attempts) == _retry_attempts(asl_task_states()[state_name], SERVICE_FAULT)


def test_cleanup_states_failing_leave_resources_that_the_cleanup_command_removes(
    control_cloud: Any,
    small_mnist: SmallMnist,
    tmp_path: Path,
    reliability_log: list[dict[str, Any]],
) -> None:
    cleanup_states = tuple(name for name, state in asl_task_states().items() if is_cleanup_state(state))
    assert cleanup_states
    train = _upload_copy(small_mnist, tmp_path, "cleanup-fails")
    outcome = run_local(
        _options(train, tmp_path / "out", fail_at=cleanup_states, final_cleanup=False, **COVERAGE),
        cloud=control_cloud,
    )
    assert outcome.exit_code == 1
    assert outcome.metrics.execution_status == "FAILED"
    assert outcome.metrics.error and SERVICE_FAULT in outcome.metrics.error
    # CREATE_ON_CONSTRUCT built both endpoints; nothing deleted them
    assert any("endpoint" in name for name in outcome.pipeline_leftovers), outcome.pipeline_leftovers
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["cleanup", "--run-id", str(outcome.run_id), "--endpoint-url", control_cloud.endpoint_url]
    )
    remaining = flatten_resources(control_cloud.list_resources_of_run(str(outcome.run_id)))
    reliability_log.append(
        {
            "kind": "fault",
            "case": " + ".join(cleanup_states) + ", then `clusterflow cleanup --run-id`",
            "exit_code": outcome.exit_code,
            "status": outcome.metrics.execution_status,
            "error": outcome.metrics.error,
            "left_by_pipeline": outcome.pipeline_leftovers,
            "leaked": remaining,
        }
    )
    assert result.exit_code == 0, result.stderr
    assert "nothing left" in result.stdout
    assert remaining == []
