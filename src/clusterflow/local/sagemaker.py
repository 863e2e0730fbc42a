"""Seam 3: SageMaker training jobs and endpoints run on our engine instead of moto's canned answers.

moto 5.2.5 records `CreateTrainingJob` as Completed at once and trains nothing, marks `CreateEndpoint`
InService at once, and answers sagemaker-runtime `InvokeEndpoint` with canned data. `SageMakerEngines`
wraps three backend methods and one response method:
- `SageMakerModelBackend.create_training_job`: the job is InProgress; a worker thread downloads its
  channels (S3Prefix) from the local S3, runs `clusterflow.engine.training.run_training_job`, uploads
  `model.tar.gz` to `<S3OutputPath>/<TrainingJobName>/output/model.tar.gz`, and sets Completed with
  `FinalMetricDataList` (`train:msd`, `test:msd`, ...) or Failed with `FailureReason`
  (`ClientError: <our message>`, as the built-in algorithms word a user error). Log lines go to
  `<work_dir>/<job>/training.log`.
- `create_endpoint`: Creating, then after `endpoint_delay_seconds` InService with the model loaded from
  its ModelDataUrl (Failed with FailureReason when it cannot be loaded).
- `delete_endpoint`: forgets the loaded model (moto answers "not found" errors as AWS does).
- `SageMakerRuntimeResponse.invoke_endpoint`: answers through `clusterflow.hosting.invoke_endpoint`;
  a `RequestError` becomes a 424 `ModelError` ("Received client error (400) from primary ..."), an
  endpoint that does not exist or is not InService a 400 `ValidationError`.

API: `SageMakerEngines(account, region, *, endpoint_url, work_dir, endpoint_delay_seconds=1.0, seed=0)`,
`.install()`, `.uninstall()`, `.training_jobs_started` (names, in order), `.wait_idle(timeout)`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from moto.core.utils import utcnow
from moto.sagemaker.models import FakeTrainingJob, SageMakerModelBackend, sagemaker_backends
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from clusterflow.errors import ClusterflowError, RequestError
from clusterflow.local.clients import local_client
from clusterflow.local.stops import is_stopped

LOG = logging.getLogger(__name__)
_FAKE_KEYS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}


def algorithm_of(training_image: str) -> str:
    """`.../pca:1` -> `pca`; the built-in image's repository names the algorithm."""
    return training_image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ClusterflowError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class SageMakerEngines:
    """Installs the SageMaker seams against the pinned moto."""

    def __init__(
        self,
        account: str,
        region: str,
        *,
        endpoint_url: str,
        work_dir: Path,
        endpoint_delay_seconds: float = 1.0,
        seed: int = 0,
        max_parallel_jobs: int = 2,
    ) -> None:
        self.account = account
        self.region = region
        self.endpoint_url = endpoint_url
        self.work_dir = Path(work_dir)
        self.endpoint_delay_seconds = endpoint_delay_seconds
        self.seed = seed
        self.training_jobs_started: list[str] = []
        self._pool = ThreadPoolExecutor(
            max_workers=max_parallel_jobs, thread_name_prefix="clusterflow-training"
        )
        self._futures: list[Future[None]] = []
        self._endpoint_models: dict[str, Any] = {}
        self._sources: dict[str, str] = {}  # downloaded channel file -> its s3:// URI
        self._timers: list[threading.Timer] = []
        self._originals: dict[tuple[type, str], Any] = {}  # (owner, attribute) -> what moto had

    # --- installation ---------------------------------------------------------------------------
    def install(self) -> None:
        if self._originals:
            return
        engines = self
        create_job = SageMakerModelBackend.create_training_job
        create_endpoint = SageMakerModelBackend.create_endpoint
        delete_endpoint = SageMakerModelBackend.delete_endpoint

        def create_training_job(backend: SageMakerModelBackend, *args: Any, **kwargs: Any) -> FakeTrainingJob:
            job = create_job(backend, *args, **kwargs)
            engines.start_training(job)
            return job

        def create_endpoint_seam(backend: SageMakerModelBackend, *args: Any, **kwargs: Any) -> Any:
            endpoint = create_endpoint(backend, *args, **kwargs)
            engines.start_endpoint(backend, endpoint)
            return endpoint

        def delete_endpoint_seam(backend: SageMakerModelBackend, endpoint_name: str) -> None:
            delete_endpoint(backend, endpoint_name)
            engines._endpoint_models.pop(endpoint_name, None)

        def invoke_endpoint(response: SageMakerRuntimeResponse) -> Any:
            return engines.answer(response)

        self._originals = {
            (SageMakerModelBackend, "create_training_job"): create_job,
            (SageMakerModelBackend, "create_endpoint"): create_endpoint,
            (SageMakerModelBackend, "delete_endpoint"): delete_endpoint,
            (SageMakerRuntimeResponse, "invoke_endpoint"): SageMakerRuntimeResponse.invoke_endpoint,
            (SageMakerRuntimeResponse, "use_raw_body"): SageMakerRuntimeResponse.use_raw_body,
        }
        SageMakerModelBackend.create_training_job = create_training_job  # type: ignore[method-assign,assignment]
        SageMakerModelBackend.create_endpoint = create_endpoint_seam  # type: ignore[method-assign,assignment]
        SageMakerModelBackend.delete_endpoint = delete_endpoint_seam  # type: ignore[method-assign,assignment]
        SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign,assignment]
        # Request bodies may be RecordIO-protobuf: moto would decode them as UTF-8 before dispatch.
        SageMakerRuntimeResponse.use_raw_body = True

    def uninstall(self) -> None:
        for (owner, name), original in self._originals.items():
            setattr(owner, name, original)
        self._originals = {}
        for timer in self._timers:
            timer.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wait_idle(self, timeout: float = 300.0) -> None:
        """Block until every training job started so far has ended."""
        deadline = time.monotonic() + timeout
        for future in list(self._futures):
            future.result(timeout=max(0.0, deadline - time.monotonic()))

    def _s3(self) -> Any:
        return local_client("s3", self.endpoint_url, self.region)

    # --- training -------------------------------------------------------------------------------
    def start_training(self, job: FakeTrainingJob) -> None:
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.final_metric_data_list = []
        job.training_end_time = None  # type: ignore[assignment]
        self.training_jobs_started.append(job.training_job_name)
        self._futures.append(self._pool.submit(self._train, job))

    def _train(self, job: FakeTrainingJob) -> None:
        job_dir = self.work_dir / job.training_job_name
        job_dir.mkdir(parents=True, exist_ok=True)
        log_file = (job_dir / "training.log").open("a", encoding="utf-8")

        def log(line: str) -> None:
            log_file.write(line.rstrip("\n") + "\n")
            log_file.flush()

        try:
            job.secondary_status = "Downloading"
            channels, content_type = self._download_channels(job, job_dir / "input", log)
            job.secondary_status = "Training"
            from clusterflow.engine.training import run_training_job

            result = run_training_job(
                algorithm_of(job.algorithm_specification["TrainingImage"]),
                channels,
                content_type,
                dict(job.hyper_parameters or {}),
                job_dir / "output" / "model.tar.gz",
                log=log,
                seed=self.seed,
            )
            if is_stopped(job):
                log("stopped: the model is not uploaded")
                return
            job.secondary_status = "Uploading"
            self._upload_model(job, job_dir / "output" / "model.tar.gz")
            now = utcnow()
            job.final_metric_data_list = [
                {"MetricName": name, "Value": float(value), "Timestamp": now}
                for name, value in sorted(result.metrics.items())
            ]
            job.training_end_time = now
            job.secondary_status = "Completed"
            job.training_job_status = "Completed"
        except ClusterflowError as exc:
            self._fail(job, f"ClientError: {exc}", log)
        except Exception as exc:  # noqa: BLE001 - the job fails as an algorithm error, the cloud goes on
            LOG.exception("training job %s crashed", job.training_job_name)
            self._fail(job, f"AlgorithmError: {type(exc).__name__}: {exc}", log)
        finally:
            log_file.close()

    def _fail(self, job: FakeTrainingJob, reason: str, log: Callable[[str], None]) -> None:
        if is_stopped(job):
            return
        for local, uri in sorted(self._sources.items(), key=lambda item: -len(item[0])):
            reason = reason.replace(local, uri)  # name the channel object, not our downloaded copy
        log(reason)
        job.failure_reason = reason  # type: ignore[attr-defined]  # DescribeTrainingJob's FailureReason
        job.training_end_time = utcnow()
        job.secondary_status = "Failed"
        job.training_job_status = "Failed"

    def _download_channels(
        self, job: FakeTrainingJob, input_dir: Path, log: Callable[[str], None]
    ) -> tuple[dict[str, list[Path]], str | None]:
        s3 = self._s3()
        channels: dict[str, list[Path]] = {}
        content_type: str | None = None
        for channel in job.input_data_config:
            name = channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]
            bucket, prefix = split_s3_uri(source["S3Uri"])
            content_type = channel.get("ContentType", content_type)
            files: list[Path] = []
            paginator = s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if key.endswith("/") or key.rsplit("/", 1)[-1].startswith(("_", ".")):
                        continue  # Spark's _SUCCESS and hidden files are not data
                    local = input_dir / name / (key[len(prefix) :].lstrip("/") or key.rsplit("/", 1)[-1])
                    local.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, key, str(local))
                    files.append(local)
                    self._sources[str(local)] = f"s3://{bucket}/{key}"
            if not files:
                raise ClusterflowError(f"channel '{name}': no objects under {source['S3Uri']}")
            log(f"channel {name}: {len(files)} object(s) from {source['S3Uri']}")
            channels[name] = sorted(files)
        return channels, content_type

    def _upload_model(self, job: FakeTrainingJob, model_path: Path) -> None:
        bucket, key = split_s3_uri(job.model_artifacts["S3ModelArtifacts"])
        self._s3().upload_file(str(model_path), bucket, key)

    # --- endpoints ------------------------------------------------------------------------------
    def start_endpoint(self, backend: SageMakerModelBackend, endpoint: Any) -> None:
        endpoint.endpoint_status = "Creating"
        timer = threading.Timer(self.endpoint_delay_seconds, self._bring_up, args=(backend, endpoint))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _bring_up(self, backend: SageMakerModelBackend, endpoint: Any) -> None:
        if id(backend.endpoints.get(endpoint.endpoint_name)) != id(endpoint):
            return  # deleted (or deleted and created anew) while it was Creating
        try:
            config = backend.endpoint_configs[endpoint.endpoint_config_name]
            model_name = config.production_variants[0]["ModelName"]
            container = backend._models[model_name].primary_container or {}
            bucket, key = split_s3_uri(container["ModelDataUrl"])
            data = self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()
            from clusterflow.artifacts.model import load_model

            self._endpoint_models[endpoint.endpoint_name] = load_model(data)
            endpoint.endpoint_status = "InService"
        except Exception as exc:  # noqa: BLE001 - an endpoint that cannot start ends Failed, as on AWS
            LOG.warning("endpoint %s failed: %s", endpoint.endpoint_name, exc)
            endpoint.failure_reason = f"{type(exc).__name__}: {exc}"
            endpoint.endpoint_status = "Failed"
        endpoint.last_modified_time = utcnow()

    def answer(self, response: SageMakerRuntimeResponse) -> tuple[int, dict[str, str], bytes | str]:
        endpoint_name = unquote(response.path.split("/")[2])  # /endpoints/<name>/invocations
        model = self._endpoint_models.get(endpoint_name)
        if model is None:
            backend = sagemaker_backends[response.current_account][response.region]
            endpoint = backend.endpoints.get(endpoint_name)
            reason = "not found" if endpoint is None else f"is {endpoint.endpoint_status}, not InService"
            message = f"Endpoint {endpoint_name} of account {response.current_account} {reason}."
            return _error(400, "ValidationError", message)
        from clusterflow.hosting import invoke_endpoint

        body = response.raw_body if isinstance(response.raw_body, bytes) else str(response.raw_body).encode()
        try:
            answer, content_type = invoke_endpoint(
                model, body, response.headers.get("Content-Type"), response.headers.get("Accept")
            )
        except RequestError as exc:
            message = f'Received client error ({exc.status}) from primary with message "{exc}".'
            return _error(424, "ModelError", message, OriginalStatusCode=exc.status, OriginalMessage=str(exc))
        return 200, {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": "AllTraffic"}, answer


def _error(status: int, code: str, message: str, **extra: Any) -> tuple[int, dict[str, str], str]:
    # moto takes the HTTP status from the "status" header of a handler's answer.
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code, "status": str(status)}
    return status, headers, json.dumps({"__type": code, "message": message, **extra})
