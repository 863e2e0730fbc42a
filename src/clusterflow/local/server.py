"""`clusterflow local up`: the local cloud served on 127.0.0.1 for the AWS CLI and boto3.

API (the CLI in `cli/local.py` calls these):
    serve(template_path, *, port=5000, stack_name="clusterflow-local", work_dir=None,
          parameter_overrides=None, engines=True, echo=print, stop_event=None) -> None
        Starts a LocalCloud (engines on, polling every second unless overridden), prints the endpoint
        and `aws --endpoint-url` examples, then blocks until Ctrl-C or `stop_event` is set.
    usage_lines(cloud) -> list[str]            # what serve prints, for tests and the README
    rerun_execution(cloud, execution_arn, name=None) -> str
        Starts a new execution of the same state machine with the same input (as the console's
        "New execution" does) under a new name, so the re-run gets fresh resources; returns its ARN.

The server binds the loopback interface only. An upload under `incoming/` with the AWS CLI starts the
pipeline through the same EventBridge rule as on AWS; `list-executions` and `get-execution-history` answer
from moto's Step Functions.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from clusterflow.local.cloud import LocalCloud

DEFAULT_PORT = 5000
LOCAL_POLL_SECONDS = "1"


def usage_lines(cloud: LocalCloud) -> list[str]:
    endpoint = cloud.endpoint_url
    bucket = cloud.data_bucket
    machine = cloud.state_machine_arn
    aws = f"aws --endpoint-url {endpoint} --region {cloud.region}"
    return [
        f"clusterflow local cloud listening on {endpoint} (127.0.0.1 only); stack {cloud.stack_name}",
        f"  data bucket:   s3://{bucket}",
        f"  state machine: {machine}",
        f"  log file:      {cloud.log_path}",
        "Use any credentials, for example:",
        "  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing",
        "Start a run by uploading a libsvm file:",
        f"  {aws} s3 cp train.libsvm s3://{bucket}/incoming/train.libsvm",
        "Watch it:",
        f"  {aws} stepfunctions list-executions --state-machine-arn {machine}",
        f"  {aws} stepfunctions get-execution-history --execution-arn <executionArn>",
        "Re-run an execution with its input under a new name:",
        f"  {aws} stepfunctions describe-execution --execution-arn <executionArn> --query input --output text"
        " > input.json",
        f"  {aws} stepfunctions start-execution --state-machine-arn {machine} --name rerun-1"
        " --input file://input.json",
        "Press Ctrl-C to stop (everything lives in memory and goes away).",
    ]


def rerun_execution(cloud: LocalCloud, execution_arn: str, name: str | None = None) -> str:
    """A new execution with the input of `execution_arn`, under a new name; returns the new ARN."""
    sfn = cloud.client("stepfunctions")
    described = sfn.describe_execution(executionArn=execution_arn)
    new_name = name or f"{described['name'][:60]}-rerun-{time.strftime('%H%M%S')}"
    started = sfn.start_execution(
        stateMachineArn=described["stateMachineArn"], name=new_name[:80], input=described["input"]
    )
    return str(started["executionArn"])


def serve(
    template_path: Path,
    *,
    port: int = DEFAULT_PORT,
    stack_name: str = "clusterflow-local",
    work_dir: Path | None = None,
    parameter_overrides: Mapping[str, str] | None = None,
    engines: bool = True,
    echo: Callable[[str], None] = print,
    stop_event: threading.Event | None = None,
) -> None:
    """Serve the local cloud until Ctrl-C (or `stop_event`); see the module docstring."""
    overrides = {"PollIntervalSeconds": LOCAL_POLL_SECONDS, **(parameter_overrides or {})}
    overrides = _only_declared(template_path, overrides)
    stop = stop_event or threading.Event()
    with LocalCloud(
        template_path,
        stack_name=stack_name,
        parameter_overrides=overrides,
        engines=engines,
        work_dir=work_dir,
        port=port,
    ) as cloud:
        for line in usage_lines(cloud):
            echo(line)
        previous = _stop_on_sigterm(stop)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
        echo("stopping the local cloud")


def _stop_on_sigterm(stop: threading.Event) -> Any:
    """`kill` stops the server as Ctrl-C does (only the main thread may set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())


def _only_declared(template_path: Path, overrides: Mapping[str, str]) -> dict[str, str]:
    """Drop the local defaults a template does not declare (a user's own overrides are kept and checked)."""
    from clusterflow.local.template import load_template

    declared = set((load_template(Path(template_path)).get("Parameters") or {}).keys())
    return {k: v for k, v in overrides.items() if k in declared or k not in ("PollIntervalSeconds",)}
