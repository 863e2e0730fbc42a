"""`local run` options as the local cloud's template parameters."""

from __future__ import annotations

from pathlib import Path

from clusterflow.local.run import RunOptions, start_cloud


def test_every_poll_loop_may_last_as_long_as_the_run() -> None:
    options = RunOptions(train=Path("t.libsvm"), out_dir=Path("out"), poll_seconds=2, timeout_s=3601)
    overrides = start_cloud(options).parameter_overrides
    assert overrides["MaxPollAttempts"] == "1801"
    assert overrides["PollIntervalSeconds"] == "2"


def test_a_given_template_parameter_wins_over_the_derived_bound() -> None:
    options = RunOptions(
        train=Path("t.libsvm"), out_dir=Path("out"), parameter_overrides={"MaxPollAttempts": "3"}
    )
    assert start_cloud(options).parameter_overrides["MaxPollAttempts"] == "3"
