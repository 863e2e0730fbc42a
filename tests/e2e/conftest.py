"""Shared data and helpers for the end-to-end runs of `clusterflow local run`."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ASL_PATH = REPO_ROOT / "statemachine" / "pipeline.asl.json"
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
CLEANUP_FUNCTION_ARN = "${CleanupFunctionArn}"


@dataclass(frozen=True)
class SmallMnist:
    train: Path
    test: Path
    n_train: int
    n_test: int


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory: pytest.TempPathFactory) -> SmallMnist:
    """600 training and 200 test digits of the real MNIST sample, every class in both."""
    from clusterflow.data.mnist import load_mnist_sample
    from clusterflow.formats.libsvm import write_libsvm

    X, y = load_mnist_sample()
    order = np.random.default_rng(7).permutation(len(y))
    train_rows, test_rows = order[:600], order[600:800]
    folder = tmp_path_factory.mktemp("small-mnist")
    train, test = folder / "train.libsvm", folder / "test.libsvm"
    write_libsvm(train, y[train_rows].astype(np.float64), X[train_rows])
    write_libsvm(test, y[test_rows].astype(np.float64), X[test_rows])
    return SmallMnist(train, test, len(train_rows), len(test_rows))


def task_states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state, inside Parallel branches and Map iterators too."""
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from task_states(branch)
        for key in ("Iterator", "ItemProcessor"):
            if key in state:
                yield from task_states(state[key])


def asl_task_states() -> dict[str, dict[str, Any]]:
    return dict(task_states(json.loads(ASL_PATH.read_text())))


def is_cleanup_state(state: dict[str, Any]) -> bool:
    return state.get("Parameters", {}).get("FunctionName") == CLEANUP_FUNCTION_ARN


# The ASL's Retry backoff sleeps shortened 100 times (the LocalCloud's retry clock): attempts unchanged.
RETRY_TIME_SCALE = 0.01


def read_metrics(out_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out_dir / "metrics.json").read_text())
    return data


@pytest.fixture(scope="session")
def reliability_log() -> Iterator[list[dict[str, Any]]]:
    """Outcomes of the fault, duplicate and bad-input runs; written as JSON for RELIABILITY.md when
    CLUSTERFLOW_RELIABILITY_OUT names a file."""
    rows: list[dict[str, Any]] = []
    yield rows
    target = os.environ.get("CLUSTERFLOW_RELIABILITY_OUT")
    if target:
        Path(target).write_text(json.dumps(rows, indent=1, default=str) + "\n")


# The policies under which every Task state runs: endpoints built up front, projection through one.
COVERAGE = {"endpoint_policy": "CREATE_ON_CONSTRUCT", "projection_engine": "endpoint"}


@pytest.fixture(scope="module")
def control_cloud(small_mnist: SmallMnist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A LocalCloud with engines off (moto's canned SageMaker and Glue) for the control-flow runs:
    faults, bad inputs, duplicates. Each run uploads under its own key, so runs never share a name.

    Module scope: moto's state is global to the process and a LocalCloud's start resets it, so no other
    cloud may start while this one serves; a module using it starts none of its own."""
    from clusterflow.local.run import RunOptions, start_cloud

    folder = tmp_path_factory.mktemp("control")
    options = RunOptions(
        train=small_mnist.train,
        out_dir=folder,
        k=10,
        components=10,
        poll_seconds=0,
        engines=False,
        retry_time_scale=RETRY_TIME_SCALE,
        # Polls take no time here (poll_seconds 0): a poll loop waiting on a failing deploy in the other
        # Parallel branch must outlast that deploy's (compressed) retries, as it does on AWS.
        parameter_overrides={"MaxPollAttempts": "5000"},
        **COVERAGE,
    )
    with start_cloud(options) as cloud:
        yield cloud
