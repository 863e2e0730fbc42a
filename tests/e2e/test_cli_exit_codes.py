"""`clusterflow local run` exit codes through the CLI, each in a local cloud of its own (engines off)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from clusterflow.cli import cli
from clusterflow.local.lambdas import SERVICE_FAULT

from .conftest import RETRY_TIME_SCALE, SmallMnist, read_metrics

GOOD = b"3 1:12 200:255 784:7\n5 10:1.5 11:3\n"


def test_fail_at_through_the_cli_exits_1_with_the_error(small_mnist: SmallMnist, tmp_path: Path) -> None:
    state = "Validate the input object"
    args = ["local", "run", "--train", str(small_mnist.train), "--out", str(tmp_path), "--no-engines"]
    args += ["--poll-seconds", "0", "--fail-at", state, "--retry-time-scale", str(RETRY_TIME_SCALE)]
    result = CliRunner(mix_stderr=False).invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 1
    metrics = read_metrics(tmp_path)
    assert state in metrics["error"] and SERVICE_FAULT in metrics["error"]
    assert metrics["leaked_resources"] == []
    assert state in result.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["execution_status"] == "FAILED"


def test_bad_input_through_the_cli_exits_2_with_one_message(tmp_path: Path) -> None:
    upload = tmp_path / "bad.libsvm"
    upload.write_bytes(GOOD + b"1 0:4\n")
    args = ["local", "run", "--train", str(upload), "--out", str(tmp_path / "out"), "--no-engines"]
    result = CliRunner(mix_stderr=False).invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "line 3" in errors[0], result.stderr
    metrics = read_metrics(tmp_path / "out")
    assert metrics["training_jobs_started"] == 0 and metrics["leaked_resources"] == []
