"""The stack from template.yaml in the local cloud (moto + in-process handlers), engines off: moto's canned
SageMaker and Glue, so these tests exercise the workflow itself. One cloud for the module; each test starts
executions under its own names with a self-contained input, as a console re-run would."""

from __future__ import annotations

import json
import types
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
ASL = json.loads((REPO_ROOT / "statemachine" / "pipeline.asl.json").read_text())
FAILURE_CLEANUP = "Clean up after the failure"
# Runs started by the S3 event trigger take their parameters from the environment: poll every second.
OVERRIDES = {"PollIntervalSeconds": "1"}


def _rows(count: int) -> bytes:
    lines = [
        f"{i % 10} " + " ".join(f"{j}:{(i * j) % 255 + 1}" for j in range(1, 785, 13)) for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def task_state_names(states: dict[str, Any]) -> Iterator[str]:
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name
        for branch in state.get("Branches", []):
            yield from task_state_names(branch["States"])


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every Retry attempt still happens; moto's retrier just does not sleep (the intervals are recorded)."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    slept: list[float] = []
    monkeypatch.setattr(retrier_decl, "time", types.SimpleNamespace(sleep=slept.append))
    return slept


@dataclass
class Stack:
    cloud: Any
    s3: Any
    sfn: Any
    sagemaker: Any
    bucket: str
    state_machine_arn: str

    def upload(self, key: str, body: bytes | None = None) -> str:
        put = self.s3.put_object(Bucket=self.bucket, Key=key, Body=_rows(40) if body is None else body)
        return str(put.get("VersionId") or "null")

    def run(self, name: str | None = None, *, key: str | None = None, **parameters: Any) -> dict[str, Any]:
        """Start an execution with a self-contained input, wait for it: DescribeExecution plus its name."""
        name = name or f"run-{uuid.uuid4().hex[:12]}"
        # Outside incoming/: the upload must not also start a run through the S3 event trigger.
        key = key or f"manual/{name}.libsvm"
        version = self.upload(key)
        document = {
            "bucket": self.bucket,
            "key": key,
            "version_id": version,
            "parameters": {"poll_seconds": 0, "k": 10, "num_components": 10} | parameters,
        }
        started = self.sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(document)
        )
        described: dict[str, Any] = self.cloud.wait_for_execution(started["executionArn"], timeout=120)
        return described | {"name": name}

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = self.sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def entered(self, execution_arn: str) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution_arn)
            if "stateEnteredEventDetails" in e
        ]

    def leftovers(self, run_id: str) -> dict[str, list[str]]:
        return {kind: items for kind, items in self.cloud.list_resources_of_run(run_id).items() if items}

    def manifest(self, run_id: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.bucket, Key=f"runs/{run_id}/manifest.json")["Body"].read()
        loaded: dict[str, Any] = json.loads(body)
        return loaded


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from clusterflow.local.cloud import LocalCloud

    cloud = LocalCloud(
        REPO_ROOT / "template.yaml", stack_name="cf-it", engines=False, parameter_overrides=OVERRIDES
    )
    cloud.start()
    try:
        yield Stack(
            cloud=cloud,
            s3=cloud.client("s3"),
            sfn=cloud.client("stepfunctions"),
            sagemaker=cloud.client("sagemaker"),
            bucket=cloud.data_bucket,
            state_machine_arn=cloud.state_machine_arn,
        )
    finally:
        cloud.stop()


@pytest.fixture
def faults(stack: Stack) -> Iterator[Any]:
    """Set `stack.cloud.lambdas.faults` for one test; cleared after it."""
    from clusterflow.local.lambdas import FaultPlan

    def plan(**kwargs: Any) -> None:
        stack.cloud.lambdas.faults = FaultPlan(**kwargs)

    yield plan
    stack.cloud.lambdas.faults = FaultPlan()
