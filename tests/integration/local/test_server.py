"""`local up`: the served cloud answers plain boto3 clients (what the AWS CLI uses) on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import time

import boto3

from clusterflow.local.server import rerun_execution, serve, usage_lines

from .conftest import STANDIN


def test_serve_prints_how_to_use_it_and_an_upload_starts_a_run(tmp_path) -> None:
    lines: list[str] = []
    stop = threading.Event()
    server = threading.Thread(
        target=serve,
        args=(STANDIN,),
        kwargs={
            "port": 0,
            "stack_name": "cf-up",
            "work_dir": tmp_path,
            "engines": False,
            "parameter_overrides": {"PollSeconds": "0"},
            "echo": lines.append,
            "stop_event": stop,
        },
    )
    server.start()
    try:
        deadline = time.monotonic() + 60
        while not any("aws --endpoint-url" in line for line in lines):
            assert time.monotonic() < deadline and server.is_alive()
            time.sleep(0.05)
        endpoint = re.search(r"listening on (http://127\.0\.0\.1:\d+)", lines[0]).group(1)
        assert any("s3://cf-up-data-123456789012/incoming/" in line for line in lines)
        session = boto3.session.Session(
            aws_access_key_id="any", aws_secret_access_key="any", region_name="us-east-1"
        )
        s3 = session.client("s3", endpoint_url=endpoint)
        sfn = session.client("stepfunctions", endpoint_url=endpoint)
        s3.put_object(Bucket="cf-up-data-123456789012", Key="incoming/cli.libsvm", Body=b"1 1:1\n")
        machine = "arn:aws:states:us-east-1:123456789012:stateMachine:cf-up-Pipeline"
        while not sfn.list_executions(stateMachineArn=machine)["executions"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first = sfn.list_executions(stateMachineArn=machine)["executions"][0]["executionArn"]
        while sfn.describe_execution(executionArn=first)["status"] == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        history = sfn.get_execution_history(executionArn=first)["events"]
        assert history[0]["type"] == "ExecutionStarted" and history[-1]["type"] == "ExecutionSucceeded"
    finally:
        stop.set()
        server.join(timeout=30)
    assert not server.is_alive()


def test_rerun_starts_a_new_execution_with_the_same_input(standin_cloud) -> None:
    sfn = standin_cloud.client("stepfunctions")
    payload = json.dumps({"key": "incoming/rerun.libsvm", "parameters": {"poll_seconds": 0}})
    first = sfn.start_execution(
        stateMachineArn=standin_cloud.state_machine_arn, name="orig-1", input=payload
    )["executionArn"]
    standin_cloud.wait_for_execution(first, timeout=60)
    again = rerun_execution(standin_cloud, first, name="orig-1-rerun")
    described = standin_cloud.wait_for_execution(again, timeout=60)
    assert described["name"] == "orig-1-rerun" and json.loads(described["input"]) == json.loads(payload)
    assert described["status"] == "SUCCEEDED"
    assert any("stepfunctions start-execution" in line for line in usage_lines(standin_cloud))
