"""The state machine run for real by moto's interpreter, handlers in-process: each endpoint policy, a
failure at every Task state, transient faults, duplicates and re-runs, checked against execution history."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import ASL, FAILURE_CLEANUP, Stack, task_state_names

POLICIES = {
    ("CREATE_ON_TRANSFORM", "artifact"): set(),
    ("DO_NOT_CREATE", "artifact"): set(),
    ("CREATE_ON_CONSTRUCT", "artifact"): {"pca", "kmeans"},
    ("CREATE_ON_CONSTRUCT", "endpoint"): {"pca", "kmeans"},
    ("CREATE_ON_TRANSFORM", "endpoint"): set(),
}
# Every Task but the failure cleanup (its own failure is tested below); a state added later is walked too.
FAULT_STATES = sorted(set(task_state_names(ASL["States"])) - {FAILURE_CLEANUP})


@pytest.mark.parametrize(("policy", "engine"), sorted(POLICIES))
def test_happy_path_per_endpoint_policy(stack: Stack, policy: str, engine: str) -> None:
    result = stack.run(endpoint_policy=policy, projection_engine=engine)
    assert result["status"] == "SUCCEEDED", result
    run_id = result["name"]
    entered = stack.entered(result["executionArn"])
    assert entered[0] == "Validate the input object" and entered[-1] == "Run succeeded"
    assert FAILURE_CLEANUP not in entered
    assert ("Deploy the K-Means endpoint" in entered) is (policy == "CREATE_ON_CONSTRUCT")
    assert ("Deploy the PCA endpoint" in entered) is (policy == "CREATE_ON_CONSTRUCT" or engine == "endpoint")
    assert ("Wait for the PCA endpoint to serve" in entered) is (engine == "endpoint")
    assert entered.index("Is PCA training done?") < entered.index("Start the projection job")

    manifest = stack.manifest(run_id)
    assert manifest["status"] == "SUCCEEDED" and manifest["endpoint_policy"] == policy
    assert manifest["artifacts"]["kmeans_model_uri"].endswith("/output/model.tar.gz")
    latest = json.loads(stack.s3.get_object(Bucket=stack.bucket, Key="runs/latest.json")["Body"].read())
    assert latest["run_id"] == run_id

    kept = {
        kind
        for kind in ("pca", "kmeans")
        if any(f"-{kind}-ep" in e for e in stack.leftovers(run_id).get("endpoints", []))
    }
    assert kept == POLICIES[(policy, engine)]
    leftovers = stack.leftovers(run_id)
    leftovers.pop("endpoints", None), leftovers.pop("endpoint_configs", None), leftovers.pop("models", None)
    assert leftovers == {}


def _task_failures(stack: Stack, arn: str, state: str) -> list[dict[str, Any]]:
    """TaskFailed events of one state (matched through the preceding TaskStateEntered)."""
    events, failures, current = stack.history(arn), [], None
    for event in events:
        if "stateEnteredEventDetails" in event:
            current = event["stateEnteredEventDetails"]["name"]
        if event["type"] == "TaskFailed" and current == state:
            failures.append(event["taskFailedEventDetails"])
    return failures


@pytest.mark.parametrize("state", FAULT_STATES)
def test_failure_at_every_task_state_is_cleaned_up_and_fails_with_the_original_error(
    stack: Stack, faults: Any, state: str
) -> None:
    faults(fail_at=frozenset({state}), fail_error="SimulatedServiceFault")
    name = f"fault-{FAULT_STATES.index(state)}"
    stack.s3.put_object(Bucket=stack.bucket, Key=f"runs/{name}/staging/pca-train/part-00000.pbr", Body=b"x")
    result = stack.run(name, endpoint_policy="CREATE_ON_CONSTRUCT", projection_engine="endpoint")

    assert result["status"] == "FAILED"
    assert result["error"] == "SimulatedServiceFault"
    assert state in result["cause"]
    entered = stack.entered(result["executionArn"])
    assert state in entered
    assert entered[-2:] == [FAILURE_CLEANUP, "Fail with the original error"]
    assert stack.leftovers(name) == {}
    manifest = stack.manifest(name)
    assert manifest["status"] == "FAILED" and manifest["error"].startswith("SimulatedServiceFault")
    assert manifest["cleanup"]["leaked"] == []


def test_lambda_service_errors_are_retried_with_backoff_until_they_run_out(
    stack: Stack, faults: Any, fast_retries: list[float]
) -> None:
    faults(fail_at=frozenset({"Start PCA training"}))
    result = stack.run()
    assert result["status"] == "FAILED" and result["error"] == "Lambda.ServiceException"
    attempts = _task_failures(stack, result["executionArn"], "Start PCA training")
    retrier = ASL["States"]["Start PCA training"]["Retry"][0]
    assert len(attempts) == 1 + retrier["MaxAttempts"]
    assert len(fast_retries) >= retrier["MaxAttempts"]
    assert max(fast_retries) <= retrier["MaxDelaySeconds"]
    assert stack.leftovers(result["name"]) == {}


@pytest.mark.parametrize(
    "error", ["Lambda.TooManyRequestsException", "TransientServiceError", "ResourceNotReady"]
)
def test_transient_faults_are_retried_and_the_run_succeeds(stack: Stack, faults: Any, error: str) -> None:
    faults(
        transient={"Validate the input object": 2, "Check K-Means training": 3, "Record the results": 1},
        transient_error=error,
    )
    result = stack.run()
    assert result["status"] == "SUCCEEDED"
    assert len(_task_failures(stack, result["executionArn"], "Check K-Means training")) == 3


def test_cleanup_failure_still_fails_with_the_original_error_and_cleanup_run_finishes_it(
    stack: Stack, faults: Any
) -> None:
    from clusterflow.app.cleanup import cleanup_run

    faults(fail_at=frozenset({"Deploy the K-Means endpoint", FAILURE_CLEANUP}), fail_error="EndpointFailed")
    result = stack.run(endpoint_policy="CREATE_ON_CONSTRUCT")
    assert result["status"] == "FAILED" and result["error"] == "EndpointFailed"
    assert "Deploy the K-Means endpoint" in result["cause"]
    left = stack.leftovers(result["name"])
    assert left.get("endpoints"), "the PCA endpoint stays when the cleanup itself fails"
    report = cleanup_run(stack.s3, stack.sagemaker, bucket=stack.bucket, run_id=result["name"])
    assert report.leaked == [] and stack.leftovers(result["name"]) == {}


def test_bad_input_fails_first_state_and_starts_nothing(stack: Stack) -> None:
    name = "bad-input"
    stack.upload(f"manual/{name}.libsvm", b"1 0:3\n")
    document = {"bucket": stack.bucket, "key": f"manual/{name}.libsvm", "parameters": {"poll_seconds": 0}}
    started = stack.sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=name, input=json.dumps(document)
    )
    result = stack.cloud.wait_for_execution(started["executionArn"], timeout=60)
    assert result["status"] == "FAILED" and result["error"] == "InputRejected"
    assert "line 1" in json.loads(result["cause"])["errorMessage"]
    entered = stack.entered(started["executionArn"])
    assert entered == ["Validate the input object", FAILURE_CLEANUP, "Fail with the original error"]
    assert (
        stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=f"rejected/manual/{name}.libsvm")["KeyCount"]
        == 2
    )
    assert stack.leftovers(name) == {}


def test_upload_event_starts_one_run_per_content_and_reruns_get_fresh_names(stack: Stack) -> None:
    def executions() -> list[dict[str, Any]]:
        return stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]

    before = {e["name"] for e in executions()}
    stack.upload("incoming/event-a.libsvm")
    stack.cloud.events.wait_idle(30)
    stack.upload("incoming/event-a.libsvm")  # the same bytes again: a new version, same content
    stack.cloud.events.wait_idle(30)
    new = [e for e in executions() if e["name"] not in before]
    assert len(new) == 1
    first = stack.cloud.wait_for_execution(new[0]["executionArn"], timeout=120)
    assert first["status"] == "SUCCEEDED"

    rerun_name = new[0]["name"][:60] + "-rerun"
    rerun = stack.sfn.start_execution(
        stateMachineArn=stack.state_machine_arn, name=rerun_name, input=first["input"]
    )
    assert stack.cloud.wait_for_execution(rerun["executionArn"], timeout=120)["status"] == "SUCCEEDED"
    assert stack.manifest(rerun_name)["training_jobs"] != stack.manifest(new[0]["name"])["training_jobs"]


@pytest.fixture
def k_13_fails_training(monkeypatch: pytest.MonkeyPatch) -> str:
    """moto completes every training job at once; this double makes K-Means jobs with k=13 fail as
    SageMaker reports a bad hyperparameter."""
    from moto.sagemaker.models import FakeTrainingJob

    reason = (
        "ClientError: Unable to initialize the algorithm. Invalid value for k: 13 (caused by test double)"
    )
    original = FakeTrainingJob.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if (self.hyper_parameters or {}).get("k") == "13":
            self.training_job_status = "Failed"
            self.secondary_status = "Failed"
            self.failure_reason = reason

    monkeypatch.setattr(FakeTrainingJob, "__init__", init)
    return reason


def test_failed_training_fails_the_run_with_sagemakers_reason_after_cleanup(
    stack: Stack, k_13_fails_training: str
) -> None:
    result = stack.run(k=13, endpoint_policy="CREATE_ON_CONSTRUCT")
    assert result["status"] == "FAILED" and result["error"] == "TrainingJobFailed"
    assert k_13_fails_training in json.loads(result["cause"])["errorMessage"]
    entered = stack.entered(result["executionArn"])
    assert entered.index("Check K-Means training") < entered.index(FAILURE_CLEANUP)
    assert stack.leftovers(result["name"]) == {}
    assert k_13_fails_training in stack.manifest(result["name"])["error"]


def test_concurrent_runs_get_disjoint_names_and_all_succeed(stack: Stack) -> None:
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    names = [f"together-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda name: stack.run(name, endpoint_policy="CREATE_ON_CONSTRUCT"), names))
    assert [r["status"] for r in results] == ["SUCCEEDED"] * 3
    endpoints = [set(stack.leftovers(name)["endpoints"]) for name in names]
    assert all(len(found) == 2 for found in endpoints)
    assert not (endpoints[0] & endpoints[1] or endpoints[1] & endpoints[2] or endpoints[0] & endpoints[2])
    jobs = [set(stack.manifest(name)["training_jobs"]) for name in names]
    assert len(jobs[0] | jobs[1] | jobs[2]) == 6
