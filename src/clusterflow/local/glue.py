"""Seam 4: Glue and EMR Serverless job runs execute `spark_jobs/<script>` on local Spark.

moto 5.2.5 records `StartJobRun` (Glue, EMR Serverless) and executes nothing. `SparkJobs` wraps
`FakeJob.start_job_run` (Glue) and `EMRServerlessBackend.start_job_run`: the run is RUNNING while a
single worker thread (one Spark job at a time, like a small account quota) stages every `s3://` argument
to a local file (an object) or directory (a prefix), imports the script from the repository
(`spark_jobs/<basename of ScriptLocation / entryPoint>`) under its own module name, calls its
`main(argv)` with a shared `local[2]` SparkSession already running, uploads the directories it wrote back
to their S3 prefixes, and sets SUCCEEDED (Glue) / SUCCESS (EMR), or FAILED with the error message
(Glue `ErrorMessage`, EMR `stateDetails`). The job's own stdout goes to `<work_dir>/<run>/job.log`.

API: `SparkJobs(account, region, *, endpoint_url, deployment, work_dir)`, `.install()`, `.uninstall()`,
`.runs_started` (ids), `.wait_idle(timeout)`.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from moto.core.utils import utcnow
from moto.emrserverless.models import EMRServerlessBackend
from moto.glue.models import FakeJob, FakeJobRun

from clusterflow.local.clients import local_client
from clusterflow.local.deployment import Deployment
from clusterflow.local.sagemaker import split_s3_uri
from clusterflow.local.stops import is_stopped
from clusterflow.local.streams import OutputRouter

LOG = logging.getLogger(__name__)
_FAKE_KEYS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


class StagedArguments:
    """`s3://` arguments replaced by local paths; prefixes the job wrote go back to S3 afterwards."""

    def __init__(self, s3: Any, root: Path) -> None:
        self._s3 = s3
        self._root = root
        self._outputs: list[tuple[Path, str]] = []
        self._downloaded: dict[Path, tuple[int, int]] = {}
        self._uris: dict[str, str] = {}  # local path -> the s3:// URI it stands for
        self._count = 0

    def stage(self, argv: Sequence[str]) -> list[str]:
        staged = []
        for value in argv:
            if value.startswith("s3://"):
                local = self._stage_one(value)
                self._uris[local] = value
                value = local
            staged.append(value)
        return staged

    def as_s3(self, text: str) -> str:
        """`text` with every staged local path written as the S3 URI it was staged from."""
        for local, uri in sorted(self._uris.items(), key=lambda item: -len(item[0])):
            text = text.replace(local, uri)
        return text

    def _stage_one(self, uri: str) -> str:
        self._count += 1
        bucket, key = split_s3_uri(uri)
        base = self._root / f"arg{self._count}"
        if key and not key.endswith("/") and self._is_object(bucket, key):
            local = base / key.rsplit("/", 1)[-1]
            local.parent.mkdir(parents=True, exist_ok=True)
            self._s3.download_file(bucket, key, str(local))
            return str(local)
        prefix = key.rstrip("/")
        local_dir = base / (prefix.rsplit("/", 1)[-1] or "root")
        local_dir.parent.mkdir(parents=True, exist_ok=True)  # the directory itself stays absent for Spark
        self._download_prefix(bucket, prefix, local_dir)
        self._outputs.append((local_dir, f"s3://{bucket}/{prefix}"))
        return str(local_dir)

    def _is_object(self, bucket: str, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.ClientError:
            return False
        return True

    def _download_prefix(self, bucket: str, prefix: str, local_dir: Path) -> None:
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            for item in page.get("Contents", []):
                target = local_dir / item["Key"][len(prefix) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                self._s3.download_file(bucket, item["Key"], str(target))
                self._downloaded[target] = _signature(target)

    def upload_outputs(self) -> list[str]:
        uploaded: list[str] = []
        for local_dir, prefix_uri in self._outputs:
            if not local_dir.is_dir():
                continue
            bucket, prefix = split_s3_uri(prefix_uri)
            for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
                if any(part.startswith(".") for part in path.relative_to(local_dir).parts):
                    continue  # Hadoop's .crc checksums are not part of the output
                if self._downloaded.get(path) == _signature(path):
                    continue  # an input left as it was: uploading it again would be a new S3 event
                key = f"{prefix}/{path.relative_to(local_dir).as_posix()}" if prefix else path.name
                self._s3.upload_file(str(path), bucket, key)
                uploaded.append(f"s3://{bucket}/{key}")
        return uploaded


class SparkJobs:
    """Installs the Glue and EMR Serverless seams; runs one Spark job at a time."""

    def __init__(
        self,
        account: str,
        region: str,
        *,
        endpoint_url: str,
        deployment: Deployment,
        work_dir: Path,
        scripts_dir: Path | None = None,
        output: OutputRouter | None = None,
        quick_start: bool = False,
        log_file: Path | None = None,
    ) -> None:
        self.account = account
        self.region = region
        self.endpoint_url = endpoint_url
        self.deployment = deployment
        self.work_dir = Path(work_dir)
        self.scripts_dir = Path(scripts_dir) if scripts_dir else deployment.root / "spark_jobs"
        self.runs_started: list[str] = []
        self.errors: dict[str, str] = {}
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clusterflow-spark")
        self._futures: list[Future[None]] = []
        self._modules: dict[Path, ModuleType] = {}
        self._originals: dict[tuple[type, str], Callable[..., Any]] = {}
        self._output = output or OutputRouter()
        self.quick_start = quick_start
        self.log_file = log_file

    def install(self) -> None:
        if self._originals:
            return
        jobs = self
        glue_start = FakeJob.start_job_run
        glue_as_dict = FakeJobRun.as_dict
        emr_start = EMRServerlessBackend.start_job_run

        def start_glue_run(job: FakeJob, *args: Any, **kwargs: Any) -> str:
            run_id = glue_start(job, *args, **kwargs)
            jobs.start_glue(job, next(r for r in job.job_runs if r.job_run_id == run_id))
            return str(run_id)

        def glue_run_as_dict(job_run: FakeJobRun) -> dict[str, Any]:
            answer = glue_as_dict(job_run)
            if job_run.job_run_id in jobs.errors:
                answer["ErrorMessage"] = jobs.errors[job_run.job_run_id]
            return dict(answer)

        def start_emr_run(backend: EMRServerlessBackend, *args: Any, **kwargs: Any) -> Any:
            job_run = emr_start(backend, *args, **kwargs)
            jobs.start_emr(job_run)
            return job_run

        self._originals = {
            (FakeJob, "start_job_run"): glue_start,
            (FakeJobRun, "as_dict"): glue_as_dict,
            (EMRServerlessBackend, "start_job_run"): emr_start,
        }
        FakeJob.start_job_run = start_glue_run  # type: ignore[method-assign,assignment]
        FakeJobRun.as_dict = glue_run_as_dict  # type: ignore[method-assign,assignment]
        EMRServerlessBackend.start_job_run = start_emr_run  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        self._originals = {}
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wait_idle(self, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        for future in list(self._futures):
            future.result(timeout=max(0.0, deadline - time.monotonic()))

    # --- Glue -----------------------------------------------------------------------------------
    def start_glue(self, job: FakeJob, job_run: FakeJobRun) -> None:
        _pin(job_run, "RUNNING")
        argv = ["--JOB_NAME", job.name, "--JOB_RUN_ID", job_run.job_run_id]
        for key, value in (job_run.arguments or {}).items():
            argv += [str(key), str(value)]
        command: Any = job.command
        script = self._script(str(command.get("ScriptLocation", "")))
        self.runs_started.append(job_run.job_run_id)

        def finish(error: str | None) -> None:
            if is_stopped(job_run):
                return
            if error is not None:
                self.errors[job_run.job_run_id] = error
            job_run.completed_on = job_run.modified_on = utcnow()
            _pin(job_run, "FAILED" if error else "SUCCEEDED")

        self._futures.append(self._pool.submit(self._run, job_run.job_run_id, script, argv, finish))

    # --- EMR Serverless -------------------------------------------------------------------------
    def start_emr(self, job_run: Any) -> None:
        job_run.state = "RUNNING"
        submit = (job_run.job_driver or {}).get("sparkSubmit", {})
        script = self._script(str(submit.get("entryPoint", "")))
        argv = [str(a) for a in submit.get("entryPointArguments", [])]
        self.runs_started.append(job_run.id)

        def finish(error: str | None) -> None:
            if is_stopped(job_run):
                return
            job_run.state_details = error
            job_run.updated_at = utcnow()
            job_run.state = "FAILED" if error else "SUCCESS"

        self._futures.append(self._pool.submit(self._run, job_run.id, script, argv, finish))

    # --- running a script -----------------------------------------------------------------------
    def _script(self, location: str) -> Path:
        name = location.rsplit("/", 1)[-1]
        return self.scripts_dir / name

    def _run(self, run_id: str, script: Path, argv: list[str], finish: Callable[[str | None], None]) -> None:
        run_dir = self.work_dir / run_id[:40]
        run_dir.mkdir(parents=True, exist_ok=True)
        log_file = (run_dir / "job.log").open("a", encoding="utf-8")
        staged = StagedArguments(local_client("s3", self.endpoint_url, self.region), run_dir / "staged")
        error: str | None = None
        try:
            with self._output.route(log_file):
                self._run_script(script, argv, staged, log_file)
        except Exception as exc:  # noqa: BLE001 - the run fails with the job's message, the cloud goes on
            message = staged.as_s3(str(exc))  # the user uploaded s3:// objects, not our staged copies
            LOG.warning("spark job run %s failed: %s", run_id, message)
            log_file.write(f"FAILED: {type(exc).__name__}: {message}\n")
            error = message if _is_user_error(exc) else f"{type(exc).__name__}: {message}"
        finally:
            log_file.close()
            shutil.rmtree(run_dir / "staged", ignore_errors=True)
        finish(error)

    def _run_script(self, script: Path, argv: list[str], staged: StagedArguments, log_file: TextIO) -> None:
        local_argv = staged.stage(argv)
        log_file.write(f"argv: {local_argv}\n")
        self._spark_session()
        module = self._module(script)
        extra: dict[str, Any] = {}
        if "client_factory" in inspect.signature(module.main).parameters:
            extra["client_factory"] = _runtime_client_factory(self.endpoint_url)
        module.main([str(script), *local_argv], **extra)
        for uri in staged.upload_outputs():
            log_file.write(f"uploaded {uri}\n")

    def _spark_session(self) -> Any:
        from pyspark import SparkContext

        from clusterflow.spark.session import local_session

        created = SparkContext._active_spark_context is None
        session = local_session("clusterflow-local-cloud", quick_start=self.quick_start)
        if created and self.log_file is not None:
            _log_spark_to_file(session, self.log_file, self.work_dir)
        return session

    def _module(self, script: Path) -> ModuleType:
        module = self._modules.get(script)
        if module is None:
            if not script.is_file():
                raise FileNotFoundError(f"Spark script {script} not found (from the job's script location)")
            spec = importlib.util.spec_from_file_location(f"clusterflow_local_spark_{script.stem}", script)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot import {script}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._modules[script] = module
        return module


_FILE_LOG4J2 = """\
status = error
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{HH:mm:ss}} %p spark %c{{1}}: %m%n
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
"""


def _log_spark_to_file(session: Any, log_file: Path, work_dir: Path) -> None:
    """Send the JVM's log4j output to the local cloud's log file instead of the terminal."""
    config = work_dir / "spark-log4j2.properties"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(_FILE_LOG4J2.format(log_file=log_file.resolve().as_posix()), encoding="utf-8")
    jvm = session.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.reconfigure(
        jvm.java.net.URI.create(config.as_uri())
    )


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _is_user_error(exc: Exception) -> bool:
    from clusterflow.errors import ClusterflowError

    return isinstance(exc, ClusterflowError)


def _pin(job_run: FakeJobRun, state: str) -> None:
    """Hold a Glue run at `state`: moto would otherwise advance it each time it is described."""
    job_run._transitions = [(state, state)]
    job_run._status = state


def _runtime_client_factory(endpoint_url: str) -> Callable[[str], Any]:
    """sagemaker-runtime clients for Spark's Python workers (which may predate AWS_ENDPOINT_URL)."""

    def factory(region: str) -> Any:
        from clusterflow.local.clients import local_client as executor_client

        return executor_client("sagemaker-runtime", endpoint_url, region)

    return factory
