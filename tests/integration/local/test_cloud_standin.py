"""The local cloud end to end on the stand-in app: upload -> EventBridge -> trigger -> ASL -> handlers."""

from __future__ import annotations

import json
import socket

import pytest

from clusterflow.local.cloud import LocalCloud, LocalCloudError
from clusterflow.local.lambdas import FaultPlan


def _upload_and_wait(cloud: LocalCloud, key: str, body: bytes = b"1 1:1\n") -> dict:
    cloud.client("s3").put_object(Bucket=cloud.data_bucket, Key=key, Body=body)
    cloud.events.wait_idle()
    sfn = cloud.client("stepfunctions")
    for execution in sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if json.loads(described["input"]).get("key") == key:
            return cloud.wait_for_execution(execution["executionArn"], timeout=60)
    raise AssertionError(f"no execution started for {key}")


def _states(cloud: LocalCloud, execution_arn: str) -> list[tuple[str, str]]:
    history = cloud.client("stepfunctions").get_execution_history(executionArn=execution_arn)["events"]
    return [(e["type"], e.get("stateEnteredEventDetails", {}).get("name", "")) for e in history]


def test_server_listens_on_loopback_only(cloud: LocalCloud) -> None:
    assert cloud.endpoint_url.startswith("http://127.0.0.1:")
    with pytest.raises(LocalCloudError, match="loopback"):
        LocalCloud(cloud.template_path, host="0.0.0.0")


def test_deployment_exists_in_moto(cloud: LocalCloud) -> None:
    names = {f["FunctionName"] for f in cloud.client("lambda").list_functions()["Functions"]}
    assert names == {spec.name for spec in cloud.deployment.functions.values()}
    rules = cloud.client("events").list_rules()["Rules"]
    assert {r["Name"] for r in rules} == {r.name for r in cloud.deployment.rules.values()}
    versioning = cloud.client("s3").get_bucket_versioning(Bucket=cloud.data_bucket)
    assert versioning["Status"] == "Enabled"
    machine = cloud.client("stepfunctions").describe_state_machine(stateMachineArn=cloud.state_machine_arn)
    assert json.loads(machine["definition"]) == cloud.deployment.state_machine.definition
    assert cloud.client("glue").get_job(JobName="cf-standin-project")["Job"]["DefaultArguments"] == {
        "--num_features": "784"
    }


def test_upload_runs_the_pipeline_to_success_and_leaves_nothing(cloud: LocalCloud) -> None:
    described = _upload_and_wait(cloud, "incoming/ok.libsvm")
    assert described["status"] == "SUCCEEDED"
    run_id = described["name"]
    entered = [
        name for kind, name in _states(cloud, described["executionArn"]) if kind.endswith("StateEntered")
    ]
    assert entered[:3] == ["Work", "Wait", "CheckStatus"] and entered[-1] == "Cleanup"
    work = [i for i in cloud.lambdas.invocations if i.run_id == run_id and i.state_name == "Work"]
    assert len(work) == 1 and work[0].error is None
    assert all(not held for held in cloud.list_resources_of_run(run_id).values())


def test_keys_outside_the_pattern_start_nothing(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    before = len(sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"])
    for key in ("incoming/notes.txt", "rejected/x.libsvm", "incoming/x.csv"):
        cloud.client("s3").put_object(Bucket=cloud.data_bucket, Key=key, Body=b"x")
    cloud.events.wait_idle()
    assert len(sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]) == before


def test_fail_at_exhausts_retries_and_catch_runs_cleanup(cloud: LocalCloud) -> None:
    cloud.lambdas.faults = FaultPlan(fail_at=frozenset({"Work"}))
    cloud.retry_clock.scale = 0.01
    slept_before = len(cloud.retry_clock.slept)
    try:
        described = _upload_and_wait(cloud, "incoming/fail.libsvm")
    finally:
        cloud.retry_clock.scale = 1.0
    assert cloud.retry_clock.slept[slept_before:] == [1.0, 1.0, 1.0]  # the ASL's intervals, run 100x faster
    assert described["status"] == "FAILED"
    run_id = described["name"]
    attempts = [i for i in cloud.lambdas.invocations if i.run_id == run_id and i.state_name == "Work"]
    assert len(attempts) == 4  # first try + MaxAttempts 3 for Lambda.ServiceException
    assert all(a.error == "Lambda.ServiceException" for a in attempts)
    history = cloud.client("stepfunctions").get_execution_history(executionArn=described["executionArn"])
    failures = [e["taskFailedEventDetails"]["error"] for e in history["events"] if e["type"] == "TaskFailed"]
    assert failures and set(failures) == {"Lambda.ServiceException"}
    cleanup = [
        i for i in cloud.lambdas.invocations if i.run_id == run_id and i.state_name == "CleanupAfterFailure"
    ]
    assert len(cleanup) == 1
    assert cloud.list_resources_of_run(run_id)["staging_objects"] == []


def test_transient_throttling_is_retried_and_the_run_succeeds(cloud: LocalCloud) -> None:
    cloud.lambdas.faults = FaultPlan(transient={"Work": 2})
    described = _upload_and_wait(cloud, "incoming/flaky.libsvm")
    assert described["status"] == "SUCCEEDED"
    attempts = [
        i.error for i in cloud.lambdas.invocations if i.run_id == described["name"] and i.state_name == "Work"
    ]
    assert attempts == ["Lambda.TooManyRequestsException", "Lambda.TooManyRequestsException", None]


def test_handler_exception_reaches_catch_by_its_type(cloud: LocalCloud) -> None:
    sfn = cloud.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=cloud.state_machine_arn,
        name="explode-1",
        input=json.dumps({"parameters": {"poll_seconds": 0, "explode": True}}),
    )["executionArn"]
    described = cloud.wait_for_execution(arn, timeout=60)
    assert described["status"] == "FAILED"
    history = sfn.get_execution_history(executionArn=arn)["events"]
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert failed[0]["error"] == "ValueError" and "asked to explode" in failed[0]["cause"]


def test_schedule_fires_the_reaper_on_request(cloud: LocalCloud) -> None:
    cloud.fire_schedule("ReaperFunctionHourly")
    reaper = [i for i in cloud.lambdas.invocations if i.function == "ReaperFunction"]
    assert len(reaper) == 1 and reaper[0].error is None


def test_stop_frees_the_port_and_restores_the_environment(tmp_path) -> None:
    import os

    before = os.environ.get("AWS_ENDPOINT_URL")
    cloud = LocalCloud(
        __import__("pathlib").Path(__file__).parent / "standin" / "template.yaml",
        stack_name="cf-stop",
        work_dir=tmp_path,
    )
    cloud.start()
    port = int(cloud.endpoint_url.rsplit(":", 1)[1])
    assert os.environ["AWS_ENDPOINT_URL"] == cloud.endpoint_url
    cloud.stop()
    assert os.environ.get("AWS_ENDPOINT_URL") == before
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_fault_at_an_unknown_state_is_refused_with_the_known_ones(tmp_path) -> None:
    from pathlib import Path

    cloud = LocalCloud(
        Path(__file__).parent / "standin" / "template.yaml",
        stack_name="cf-typo",
        work_dir=tmp_path,
        faults=FaultPlan(fail_at=frozenset({"Wrok"})),
    )
    with pytest.raises(
        LocalCloudError, match=r"no Task state named 'Wrok'.*Task states: CheckStatus, Cleanup"
    ):
        cloud.start()
    import os

    assert "MOTO_PORT" not in os.environ or cloud.endpoint_url.rsplit(":", 1)[1] != os.environ["MOTO_PORT"]
