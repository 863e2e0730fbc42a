"""The local cloud: moto served on 127.0.0.1, our seams installed, the stack deployed from template.yaml.

API:
    with LocalCloud(template_path, stack_name="clusterflow-local", engines=False, faults=None,
                    parameter_overrides=None, work_dir=None, log_path=None) as cloud:
        cloud.endpoint_url                      # http://127.0.0.1:<port>
        cloud.client("s3")                      # boto3 client for the local cloud (validation on)
        cloud.deployment                        # clusterflow.local.deployment.Deployment
        cloud.data_bucket, cloud.state_machine_arn
        cloud.wait_for_execution(arn, timeout=300.0) -> dict   # DescribeExecution once not RUNNING
        cloud.list_resources_of_run(run_id) -> dict[str, list[str]]   # what a run still holds
        cloud.fire_schedule(rule_logical_id)    # deliver a scheduled rule's event now (the reaper)
        cloud.lambdas                           # LambdaRuntime: .invocations, .faults (swappable)
        cloud.service_faults.injected           # ServiceFaults that fired (FaultPlan.service)
        cloud.events                            # EventDelivery: .wait_idle(), .failures
        cloud.stop()

`retry_time_scale` (default 1.0) compresses the interpreter's Retry backoff sleeps (0.01: a 126 s
backoff takes 1.3 s), for fault walks; `cloud.retry_clock.slept` lists the unscaled intervals.
`engines=False` keeps moto's canned SageMaker and Glue (fast control-flow tests); `engines=True` installs
the SageMaker seam (training on our engine, endpoints answering through clusterflow.hosting) and the
Glue/EMR Serverless seam (spark_jobs/project.py on local Spark). moto's state is global to the process:
one LocalCloud at a time, and starting one resets moto.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from clusterflow.errors import ClusterflowError
from clusterflow.local.clients import FAKE_CREDENTIALS, local_client
from clusterflow.local.clock import RetryClock
from clusterflow.local.deployment import DEFAULT_ACCOUNT, DEFAULT_REGION, Deployment, load_deployment
from clusterflow.local.events import EventDelivery
from clusterflow.local.lambdas import FaultPlan, LambdaRuntime
from clusterflow.local.s3_streams import StreamedObjects
from clusterflow.local.service_faults import ServiceFaultInjector
from clusterflow.local.stops import JobStops
from clusterflow.local.streams import OutputRouter

LOG = logging.getLogger(__name__)
_QUIET_LOGGERS = ("werkzeug", "moto", "botocore", "boto3", "urllib3", "py4j", "pyspark")
RUN_ID_TAG = "clusterflow:run-id"


class LocalCloudError(ClusterflowError):
    """The local cloud could not start, deploy or answer."""


class ExecutionTimeout(LocalCloudError):
    """An execution was still RUNNING when the wait ran out."""


class LocalCloud:
    """moto + seams + the stack from template.yaml, on 127.0.0.1 at a free port."""

    def __init__(
        self,
        template_path: Path,
        *,
        stack_name: str = "clusterflow-local",
        region: str = DEFAULT_REGION,
        parameter_overrides: Mapping[str, str] | None = None,
        engines: bool = False,
        faults: FaultPlan | None = None,
        work_dir: Path | None = None,
        log_path: Path | None = None,
        endpoint_delay_seconds: float = 1.0,
        spark_scripts_dir: Path | None = None,
        retry_time_scale: float = 1.0,
        spark_quick_start: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise LocalCloudError(f"the local cloud binds the loopback interface only, not {host}")
        self.template_path = Path(template_path)
        self.stack_name = stack_name
        self.region = region
        self.account = DEFAULT_ACCOUNT  # moto maps the fake credentials to this account
        self.parameter_overrides = dict(parameter_overrides or {})
        self.engines = engines
        self.faults = faults or FaultPlan()
        self.endpoint_delay_seconds = endpoint_delay_seconds
        self.spark_scripts_dir = spark_scripts_dir
        self.spark_quick_start = spark_quick_start  # JIT tier 1 only: for tests on tiny data
        self.retry_clock = RetryClock(retry_time_scale)
        self._host = host
        self._port = port
        self._own_work_dir = work_dir is None
        self.work_dir = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="clusterflow-local-"))
        self.log_path = log_path or self.work_dir / "local-cloud.log"
        self._server: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._saved_config: dict[str, Any] = {}
        self._log_handler: logging.Handler | None = None
        self._saved_loggers: dict[str, tuple[int, bool]] = {}
        self._seams: list[Any] = []
        self._clients: dict[str, Any] = {}
        self.output = OutputRouter()
        self._function_log: TextIO | None = None
        self._deployment: Deployment | None = None
        self.lambdas: LambdaRuntime | None = None
        self.events: EventDelivery | None = None
        self.sagemaker: Any = None  # SageMakerEngines when engines=True
        self.spark: Any = None  # SparkJobs when engines=True
        self.endpoint_url = ""

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._route_logs()
        try:
            self._configure_moto()
            self._start_server()
            self._set_environment()
            self._deployment = self._load_deployment()
            self._check_fault_states()
            self._install_seams()
            self._deploy()
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        for seam in reversed(self._seams):
            try:
                seam.uninstall()
            except Exception:  # noqa: BLE001 - stopping must go on whatever one seam does
                LOG.exception("uninstalling %s failed", type(seam).__name__)
        self._seams.clear()
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._clients.clear()
        if self._function_log is not None:
            self._function_log.close()
            self._function_log = None
        self._restore_environment()
        self._restore_moto_config()
        self._restore_logs()

    # --- public helpers -------------------------------------------------------------------------
    @property
    def deployment(self) -> Deployment:
        if self._deployment is None:
            raise LocalCloudError("the local cloud is not started")
        return self._deployment

    @property
    def data_bucket(self) -> str:
        return self.deployment.data_bucket.name

    @property
    def state_machine_arn(self) -> str:
        return self.deployment.state_machine.arn

    def client(self, service: str, **config: Any) -> Any:
        """A boto3 client for this cloud (cached when no config is given); parameter validation stays on."""
        if config:
            return local_client(service, self.endpoint_url, self.region, **config)
        if service not in self._clients:
            self._clients[service] = local_client(service, self.endpoint_url, self.region)
        return self._clients[service]

    def wait_for_execution(
        self, execution_arn: str, timeout: float = 300.0, poll: float = 0.1
    ) -> dict[str, Any]:
        """DescribeExecution once the execution is no longer RUNNING; ExecutionTimeout otherwise."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise ExecutionTimeout(f"execution {execution_arn} still RUNNING after {timeout:.0f} s")
            time.sleep(poll)

    def fire_schedule(self, rule_logical_id: str) -> None:
        """Deliver the event a schedule rule would send now (the local cloud has no clock of its own)."""
        rule = self.deployment.rules.get(rule_logical_id)
        if rule is None or rule.schedule is None:
            raise LocalCloudError(f"{self.template_path}: no schedule rule '{rule_logical_id}'")
        event = {
            "version": "0",
            "id": f"local-{time.time_ns()}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account,
            "region": self.region,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "resources": [f"arn:aws:events:{self.region}:{self.account}:rule/{rule.name}"],
            "detail": {},
        }
        assert self.events is not None
        self.events.deliver([{"Arn": t.arn, "Input": t.input} for t in rule.targets], event)
        self.events.wait_idle()

    def list_resources_of_run(self, run_id: str) -> dict[str, list[str]]:
        """Everything the run still holds that costs or clutters: the cleanup must leave this all empty."""
        from clusterflow.local import inventory

        return inventory.resources_of_run(self, run_id)

    # --- start-up steps -------------------------------------------------------------------------
    def _route_logs(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(self.log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._log_handler = handler
        for name in (*_QUIET_LOGGERS, "clusterflow.local"):
            logger = logging.getLogger(name)
            self._saved_loggers[name] = (logger.level, logger.propagate)
            logger.addHandler(handler)
            logger.propagate = False
            if name in _QUIET_LOGGERS:
                logger.setLevel(logging.WARNING)

    def _restore_logs(self) -> None:
        if self._log_handler is None:
            return
        for name, (level, propagate) in self._saved_loggers.items():
            logger = logging.getLogger(name)
            logger.removeHandler(self._log_handler)
            logger.setLevel(level)
            logger.propagate = propagate
        self._log_handler.close()
        self._log_handler = None
        self._saved_loggers.clear()

    def _configure_moto(self) -> None:
        from moto.core.config import default_user_config
        from moto.moto_api._internal.models import moto_api_backend

        self._saved_config = {key: dict(value) for key, value in default_user_config.items()}  # type: ignore[call-overload]
        default_user_config["lambda"] = {"use_docker": False}
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        moto_api_backend.reset()

    def _restore_moto_config(self) -> None:
        from moto.core.config import default_user_config

        for key, value in self._saved_config.items():
            default_user_config[key] = value  # type: ignore[literal-required]
        self._saved_config = {}

    def _start_server(self) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        self._port_in_use = port

    def _set_environment(self) -> None:
        values = {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            # moto's Step Functions interpreter calls the other services at localhost:$MOTO_PORT.
            "MOTO_PORT": str(self._port_in_use),
        }
        self._saved_env = {key: os.environ.get(key) for key in values}
        os.environ.update(values)

    def _restore_environment(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def _load_deployment(self) -> Deployment:
        return load_deployment(
            self.template_path,
            stack_name=self.stack_name,
            region=self.region,
            account=self.account,
            parameter_overrides=self.parameter_overrides,
        )

    def _check_fault_states(self) -> None:
        known = set(task_state_names(self.deployment.state_machine.definition))
        unknown = sorted((set(self.faults.fail_at) | set(self.faults.transient)) - known)
        if unknown:
            raise LocalCloudError(
                f"no Task state named {', '.join(repr(n) for n in unknown)} in the state machine of "
                f"{self.template_path}; Task states: {', '.join(sorted(known))}"
            )

    def _handler_environment(self) -> dict[str, str]:
        return {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            "CLUSTERFLOW_LOCAL": "1",
        }

    def _install_seams(self) -> None:
        self.output.install()
        self._seams.append(self.output)
        self.retry_clock.install()
        self._seams.append(self.retry_clock)
        self.service_faults = ServiceFaultInjector(
            lambda: self.lambdas.faults.service if self.lambdas else ()
        )
        self.service_faults.install()
        self._seams.append(self.service_faults)
        for moto_gap in (JobStops(), StreamedObjects()):
            moto_gap.install()
            self._seams.append(moto_gap)
        self._function_log = self.log_path.open(
            "a", encoding="utf-8", buffering=1
        )  # function prints, as in CloudWatch
        self.lambdas = LambdaRuntime(
            self.deployment,
            base_environment=self._handler_environment(),
            faults=self.faults,
            output=self.output,
            function_log=self._function_log,
        )
        self.events = EventDelivery(self.account, self.region)
        for seam in (self.lambdas, self.events):
            seam.install()
            self._seams.append(seam)
        if self.engines:
            from clusterflow.local.glue import SparkJobs
            from clusterflow.local.sagemaker import SageMakerEngines

            for engine_seam in (  # kept as .sagemaker and .spark below
                SageMakerEngines(
                    self.account,
                    self.region,
                    endpoint_url=self.endpoint_url,
                    work_dir=self.work_dir / "sagemaker",
                    endpoint_delay_seconds=self.endpoint_delay_seconds,
                ),
                SparkJobs(
                    self.account,
                    self.region,
                    endpoint_url=self.endpoint_url,
                    deployment=self.deployment,
                    work_dir=self.work_dir / "spark",
                    scripts_dir=self.spark_scripts_dir,
                    output=self.output,
                    quick_start=self.spark_quick_start,
                    log_file=self.log_path,
                ),
            ):
                engine_seam.install()
                self._seams.append(engine_seam)
            self.sagemaker, self.spark = self._seams[-2], self._seams[-1]

    def _deploy(self) -> None:
        from clusterflow.local import provision

        provision.deploy(self)


def task_state_names(definition: Mapping[str, Any]) -> list[str]:
    """Names of every Task state in an ASL definition, Parallel branches and Map processors included."""
    names: list[str] = []
    for name, state in (definition.get("States") or {}).items():
        if state.get("Type") == "Task":
            names.append(name)
        for branch in state.get("Branches", []):
            names.extend(task_state_names(branch))
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            names.extend(task_state_names(processor))
    return names


def stub_zip() -> bytes:
    """The code moto stores for every function; the real code runs through the Lambda seam."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "code runs in-process through clusterflow.local.lambdas\n")
    return buffer.getvalue()


def tags_of(stack_name: str) -> dict[str, str]:
    return {"clusterflow:stack": stack_name}


def as_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
