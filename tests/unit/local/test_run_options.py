"""`local run` options as the local cloud's template parameters."""

from __future__ import annotations

import shutil
from pathlib import Path

from clusterflow.local.run import RunOptions, start_cloud


def overrides_of(options: RunOptions) -> dict[str, str]:
    cloud = start_cloud(options)  # constructed, never started: only its scratch directory to remove
    shutil.rmtree(cloud.work_dir, ignore_errors=True)
    return dict(cloud.parameter_overrides)


def test_every_poll_loop_may_last_as_long_as_the_run(tmp_path: Path) -> None:
    options = RunOptions(train=tmp_path / "t.libsvm", out_dir=tmp_path, poll_seconds=2, timeout_s=3601)
    overrides = overrides_of(options)
    assert overrides["MaxPollAttempts"] == "1801"
    assert overrides["PollIntervalSeconds"] == "2"


def test_a_given_template_parameter_wins_over_the_derived_bound(tmp_path: Path) -> None:
    options = RunOptions(
        train=tmp_path / "t.libsvm", out_dir=tmp_path, parameter_overrides={"MaxPollAttempts": "3"}
    )
    assert overrides_of(options)["MaxPollAttempts"] == "3"
