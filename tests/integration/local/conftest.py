"""A local cloud deployed from the stand-in template, shared by this directory's control-flow tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from clusterflow.local.cloud import LocalCloud
from clusterflow.local.lambdas import FaultPlan

STANDIN = Path(__file__).resolve().parent / "standin" / "template.yaml"


@pytest.fixture(scope="module")
def standin_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    work = tmp_path_factory.mktemp("standin-cloud")
    with LocalCloud(
        STANDIN, stack_name="cf-standin", parameter_overrides={"PollSeconds": "0"}, work_dir=work
    ) as cloud:
        yield cloud


@pytest.fixture()
def cloud(standin_cloud: LocalCloud) -> Iterator[LocalCloud]:
    """The shared cloud with no faults injected before and after each test."""
    assert standin_cloud.lambdas is not None
    standin_cloud.lambdas.faults = FaultPlan()
    yield standin_cloud
    standin_cloud.lambdas.faults = FaultPlan()
