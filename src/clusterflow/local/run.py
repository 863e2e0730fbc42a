"""`clusterflow local run`: the real pipeline on this machine, from the upload to the report and the cleanup.

`run_local(options) -> RunOutcome` starts a `LocalCloud` (moto + our seams, deployed from
`template.yaml`), uploads the training set under `incoming/` so the deployed trigger starts the
execution, follows the execution history state by state, clusters the evaluation set through the
deployed clustering Lambda, writes the report (`clusterflow.local.report`), cleans up with
`clusterflow.app.cleanup` and checks with `LocalCloud.list_resources_of_run` that nothing is left.

Exit codes in `RunOutcome.exit_code`: 0 the execution succeeded and nothing leaked; 1 the execution
failed (its original error is in metrics.json) or something leaked; 2 the upload was refused by the
first state (the reason names the defect and line) or the command's own input is unusable.

While the cloud runs, the process's stdout/stderr file descriptors point at `<out>/local-cloud.log`,
so moto's, Spark's (JVM) and the handlers' output never reaches the terminal; progress goes to a
duplicate of the terminal made before the redirection.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from clusterflow.app.function_url import function_url_event
from clusterflow.errors import ClusterflowError, DataFormatError, RequestError
from clusterflow.local.report import (
    RunMetrics,
    clustering_scores,
    execution_failure,
    state_timings,
    state_visits,
    write_report,
)

LOG_FILE = "local-cloud.log"
STACK_NAME = "clusterflow-local"
TEST_SET_PREFIX = "local-run/eval/"
CLUSTER_FUNCTION = "ClusterFunction"
CLEANUP_FUNCTION = "CleanupFunction"
CLUSTER_BATCH = 100
EXECUTION_START_TIMEOUT_S = 60.0
FINISHED = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
PROGRESS_AFTER_S = 2.0
FEATURE_DIM = 784
ENDPOINT_RETRY_S = 1.0
ENDPOINT_WAIT_S = 120.0


@dataclass
class RunOptions:
    train: Path
    out_dir: Path
    test: Path | None = None
    k: int = 10
    components: int = 50
    fail_at: tuple[str, ...] = ()
    endpoint_policy: str | None = None
    projection_engine: str | None = None
    poll_seconds: int = 1
    engines: bool = True
    timeout_s: float = 3600.0
    template: Path | None = None
    # < 1 compresses the ASL's Retry backoff sleeps (attempts unchanged): fault walks in tests
    retry_time_scale: float = 1.0
    # further template parameters (e.g. MaxPollAttempts), applied after the run's own
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    # Tests that inspect what the pipeline left behind turn the final safety-net cleanup off.
    final_cleanup: bool = True


@dataclass
class RunOutcome:
    exit_code: int
    metrics: RunMetrics
    message: str
    run_id: str | None = None
    pipeline_leftovers: list[str] = field(default_factory=list)
    # the clustered set, kept for the report's grid and confusion table
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    clusters: np.ndarray | None = None
    bucket_keys: list[str] = field(default_factory=list)


class _Console:
    """What the user sees: one line per completed state, a progress bar while a step takes long."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err

    def line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def error(self, text: str) -> None:
        self.err.write(text + "\n")
        self.err.flush()


def _duplicate(stream: TextIO, fd: int) -> TextIO:
    """A stream to the terminal that survives the redirection of `fd`; a stream on another fd is kept."""
    try:
        if stream.fileno() != fd:
            return stream
    except (AttributeError, OSError, io.UnsupportedOperation):
        return stream
    stream.flush()
    return open(os.dup(fd), "w", buffering=1, encoding="utf-8", closefd=True)  # noqa: SIM115


@contextlib.contextmanager
def _output_to_log(log_path: Path) -> Iterator[_Console]:
    """Points fds 1 and 2 (and Python's logging) at the log file; yields a console on the real terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    user_out, user_err = _duplicate(sys.stdout, 1), _duplicate(sys.stderr, 2)
    saved = [os.dup(1), os.dup(2)]
    log_file = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
    root = logging.getLogger()
    handler = logging.StreamHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous_level = root.level
    previous_handlers = root.handlers[:]
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log_file.fileno(), 1)
    os.dup2(log_file.fileno(), 2)
    try:
        yield _Console(user_out, user_err)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
        root.handlers = previous_handlers
        root.setLevel(previous_level)
        log_file.close()
        for stream, original in ((user_out, sys.stdout), (user_err, sys.stderr)):
            if stream is not original:
                stream.close()


class _Progress:
    """A line per state the first time it completes; later rounds of a poll loop only move the bar.

    The tqdm bar (state name, round, elapsed time) shows while nothing has completed for a while.
    """

    def __init__(self, console: _Console) -> None:
        self.console = console
        self.handled: set[int] = set()
        self.names_done: set[str] = set()
        self.last_line_at = time.monotonic()
        self.bar: Any = None
        # a bar redrawn with carriage returns only makes sense on a terminal, not in a log or a pipe
        self.interactive = bool(getattr(console.out, "isatty", lambda: False)())

    def update(self, events: list[Mapping[str, Any]], finished: bool) -> None:
        visits = state_visits(events)
        ended = [(index, visit) for index, visit in enumerate(visits) if visit.exited or finished]
        # in order of leaving: a Parallel state leaves after the states of its branches
        ended.sort(key=lambda pair: (pair[1].left or pair[1].entered, pair[0]))
        for index, visit in ended:
            if index in self.handled:
                continue
            self.handled.add(index)
            if visit.name in self.names_done and not visit.failed:
                continue
            self.names_done.add(visit.name)
            self._close_bar()
            seconds = (visit.left - visit.entered).total_seconds() if visit.left else 0.0
            mark = "FAILED" if visit.failed else "ok"
            self.console.line(f"  {visit.name:<44} {seconds:7.1f} s  {mark}")
            self.last_line_at = time.monotonic()
        if finished:
            self._close_bar()
            return
        running = [visit for index, visit in enumerate(visits) if index not in self.handled]
        if running and self.interactive and time.monotonic() - self.last_line_at >= PROGRESS_AFTER_S:
            name = running[-1].name
            rounds = sum(1 for visit in visits if visit.name == name)
            self._show(f"  {name}" + (f" (round {rounds})" if rounds > 1 else ""))

    def _show(self, description: str) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(file=self.console.out, bar_format="{desc} [{elapsed}]", leave=False)
        self.bar.set_description_str(description, refresh=True)

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# --- the steps of a run -------------------------------------------------------------------------


def _read_eval_set(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of the set to cluster, parsed strictly (DataFormatError names file and line)."""
    from clusterflow.formats.libsvm import read_libsvm

    labels, features = read_libsvm(path, num_features=FEATURE_DIM)
    return features.astype(np.float32), labels.astype(np.int64)


def _count_records(path: Path) -> int:
    opener: Callable[..., Any] = open
    if path.suffix == ".gz":
        import gzip

        opener = gzip.open
    try:
        with opener(path, "rb") as handle:
            return sum(1 for line in handle if line.strip())
    except (OSError, EOFError):
        return 0


def _find_execution(sfn: Any, state_machine_arn: str, before: set[str], timeout_s: float) -> str | None:
    """The execution the upload's trigger started: the one that was not there before."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        new = [e["executionArn"] for e in executions if e["executionArn"] not in before]
        if new:
            return str(new[0])
        time.sleep(0.2)
    return None


def _follow_execution(
    sfn: Any, execution_arn: str, progress: _Progress, timeout_s: float
) -> tuple[str, list[Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(sfn.describe_execution(executionArn=execution_arn)["status"])
        events: list[Any] = sfn.get_execution_history(executionArn=execution_arn)["events"]
        finished = status in FINISHED
        progress.update(events, finished)
        if finished:
            return status, events
        if time.monotonic() > deadline:
            sfn.stop_execution(
                executionArn=execution_arn, error="LocalRunTimeout", cause="local run timed out"
            )
            timeout_events: list[Any] = sfn.get_execution_history(executionArn=execution_arn)["events"]
            return "TIMED_OUT", timeout_events
        time.sleep(0.25)


def _rejection_reason(s3: Any, bucket: str, incoming_key: str) -> str | None:
    from clusterflow.app.names import rejected_key

    try:
        body = s3.get_object(Bucket=bucket, Key=rejected_key(incoming_key) + ".reason.txt")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return str(body.decode("utf-8", "replace")).strip()


def resource_prefix(cloud: Any) -> str:
    """The stack's ResourcePrefix as the deployed functions see it (every SageMaker name starts with it)."""
    from clusterflow.app.names import DEFAULT_PREFIX

    return str(cloud.deployment.function(CLEANUP_FUNCTION).environment.get("RESOURCE_PREFIX", DEFAULT_PREFIX))


def _training_jobs_started(sagemaker: Any, run_id: str, prefix: str) -> int:
    from clusterflow.app.names import resource_base

    base = resource_base(run_id, prefix)
    pages = sagemaker.get_paginator("list_training_jobs").paginate()
    return sum(
        1 for page in pages for job in page["TrainingJobSummaries"] if job["TrainingJobName"].startswith(base)
    )


def _final_metric(sagemaker: Any, job_name: str, metric: str) -> float | None:
    try:
        described = sagemaker.describe_training_job(TrainingJobName=job_name)
    except Exception:  # noqa: BLE001  # a job that never started has no metrics
        return None
    for item in described.get("FinalMetricDataList", []):
        if item.get("MetricName") == metric:
            return float(item["Value"])
    return None


def _copy_models(s3: Any, bucket: str, run_id: str, prefix: str, out_dir: Path) -> dict[str, Path]:
    """The two model.tar.gz exactly as the training jobs left them."""
    from clusterflow.app.names import models_prefix, run_names

    names = run_names(run_id, prefix)
    copied = {}
    for algorithm, job in (("pca", names.pca_training_job), ("kmeans", names.kmeans_training_job)):
        key = f"{models_prefix(run_id)}{job}/output/model.tar.gz"
        dest = out_dir / algorithm / "model.tar.gz"
        dest.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(dest))
        copied[algorithm] = dest
    return copied


def cluster_through_lambda(
    lambda_client: Any, function_name: str, images: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Closest cluster and distance per image, asked of the deployed clustering Lambda in batches."""
    clusters: list[int] = []
    distances: list[float] = []
    for start in range(0, len(images), CLUSTER_BATCH):
        batch = images[start : start + CLUSTER_BATCH]
        event = function_url_event({"instances": [{"pixels": row.tolist()} for row in batch]})
        predictions = _invoke_until_served(lambda_client, function_name, event)
        clusters.extend(int(item["closest_cluster"]) for item in predictions)
        distances.extend(float(item["distance_to_cluster"]) for item in predictions)
    return np.asarray(clusters, dtype=np.int64), np.asarray(distances, dtype=np.float64)


def _invoke_until_served(lambda_client: Any, function_name: str, event: Mapping[str, Any]) -> list[Any]:
    """A 503 means the endpoint the Lambda needs is still being created: ask again shortly."""
    deadline = time.monotonic() + ENDPOINT_WAIT_S
    while True:
        answer = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        payload = json.loads(answer["Payload"].read() or b"null")
        if isinstance(payload, Mapping) and payload.get("statusCode") == 503 and time.monotonic() < deadline:
            time.sleep(ENDPOINT_RETRY_S)
            continue
        return _predictions(payload, answer.get("FunctionError"))


def _predictions(payload: Any, function_error: str | None) -> list[Mapping[str, Any]]:
    if function_error:
        if isinstance(payload, Mapping) and "errorMessage" in payload:
            detail = f"{payload.get('errorType', 'Error')}: {payload['errorMessage']}"
        else:
            detail = str(payload)
        raise ClusterflowError(f"clustering Lambda failed: {' '.join(detail.split())[:500]}")
    body = payload
    if isinstance(payload, Mapping) and "statusCode" in payload:
        if int(payload["statusCode"]) != 200:
            raise ClusterflowError(
                f"clustering Lambda answered {payload['statusCode']}: {payload.get('body')}"
            )
        body = json.loads(payload.get("body") or "{}")
    predictions = body.get("predictions") if isinstance(body, Mapping) else None
    if not isinstance(predictions, list):
        raise ClusterflowError(f"clustering Lambda answered without predictions: {str(body)[:200]}")
    return predictions


def _cleanup(run_id: str, cloud: Any) -> None:
    """The run's own safety net after the pipeline's cleanup states; what it cannot delete is reported."""
    from clusterflow.app import cleanup

    s3, sagemaker = cloud.client("s3"), cloud.client("sagemaker")
    with contextlib.suppress(ClusterflowError):
        cleanup.cleanup_run(
            s3, sagemaker, bucket=cloud.data_bucket, run_id=run_id, prefix=resource_prefix(cloud), close=True
        )


def template_overrides(
    *,
    k: int | None = None,
    components: int | None = None,
    poll_seconds: int | None = None,
    endpoint_policy: str | None = None,
    projection_engine: str | None = None,
) -> dict[str, str]:
    """Run parameters as the template's parameters: they reach the trigger's environment as on AWS."""
    given = {
        "K": k,
        "NumComponents": components,
        "PollIntervalSeconds": poll_seconds,
        "EndpointPolicy": endpoint_policy,
        "ProjectionEngine": projection_engine,
    }
    return {name: str(value) for name, value in given.items() if value is not None}


def poll_bound(options: RunOptions) -> int:
    """Poll attempts that let one job run as long as the whole run may: the template's 240 suit its
    30 s interval on AWS, not a 1 s interval on a million local rows."""
    return max(1, math.ceil(options.timeout_s / max(options.poll_seconds, 1)))


def default_template() -> Path:
    """template.yaml at the repository root (this file is src/clusterflow/local/run.py)."""
    return Path(__file__).resolve().parents[3] / "template.yaml"


def start_cloud(options: RunOptions) -> Any:
    """The LocalCloud a run uses (not started): the template, the run's parameters, faults, engines."""
    from clusterflow.local.cloud import LocalCloud
    from clusterflow.local.lambdas import FaultPlan

    return LocalCloud(
        options.template or default_template(),
        stack_name=STACK_NAME,
        engines=options.engines,
        faults=FaultPlan(fail_at=frozenset(options.fail_at)),
        parameter_overrides=template_overrides(
            k=options.k,
            components=options.components,
            poll_seconds=options.poll_seconds,
            endpoint_policy=options.endpoint_policy,
            projection_engine=options.projection_engine,
        )
        | {"MaxPollAttempts": str(poll_bound(options))}
        | options.parameter_overrides,
        log_path=options.out_dir / LOG_FILE,
        retry_time_scale=options.retry_time_scale,
    )


def flatten_resources(found: Mapping[str, list[str]] | list[str]) -> list[str]:
    """`list_resources_of_run` answers {kind: [names]}; the report lists `kind/name`."""
    if isinstance(found, Mapping):
        return [f"{kind}/{name}" for kind, names in found.items() for name in names]
    return list(found)


# --- the run ------------------------------------------------------------------------------------


@dataclass
class _Eval:
    name: str
    images: np.ndarray
    labels: np.ndarray


def _load_eval_set(options: RunOptions) -> _Eval | None:
    """The test set is read before anything starts, so a bad one is refused at once (exit 2)."""
    if options.test is None:
        return None
    images, labels = _read_eval_set(options.test)
    return _Eval("test", images, labels)


def run_local(options: RunOptions, cloud: Any = None) -> RunOutcome:
    """The whole run, in a cloud of its own unless a started `LocalCloud` is given (to inspect after)."""
    started = time.monotonic()
    for path in (options.train, options.test):
        if path is not None and not path.is_file():
            raise ClusterflowError(f"{path}: no such file")
    options.out_dir.mkdir(parents=True, exist_ok=True)
    evaluation = _load_eval_set(options)
    log_path = options.out_dir / LOG_FILE
    with _output_to_log(log_path) as console:
        console.line(
            f"clusterflow local run: {options.train} (k={options.k}, components={options.components})"
        )
        console.line(f"  logs of the local cloud: {log_path}")
        if cloud is None:
            with start_cloud(options) as own_cloud:
                outcome = _run_in_cloud(options, own_cloud, evaluation, console)
        else:
            from clusterflow.local.lambdas import FaultPlan

            cloud.lambdas.faults = FaultPlan(fail_at=frozenset(options.fail_at))
            outcome = _run_in_cloud(options, cloud, evaluation, console)
        outcome.metrics.wall_seconds = round(time.monotonic() - started, 2)
        write_report(options.out_dir, outcome.metrics, outcome.images, outcome.labels, outcome.clusters)
        _summarise(console, outcome, options.out_dir)
    return outcome


def _upload(options: RunOptions, cloud: Any) -> str:
    s3 = cloud.client("s3")
    if options.test is not None:
        s3.upload_file(str(options.test), cloud.data_bucket, TEST_SET_PREFIX + options.test.name)
    incoming_key = "incoming/" + options.train.name
    s3.upload_file(str(options.train), cloud.data_bucket, incoming_key)
    return incoming_key


def _run_in_cloud(options: RunOptions, cloud: Any, evaluation: _Eval | None, console: _Console) -> RunOutcome:
    metrics = RunMetrics(
        execution_status="NOT_STARTED", run_id=None, k=options.k, num_components=options.components
    )
    sfn = cloud.client("stepfunctions")
    before = {
        e["executionArn"] for e in sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]
    }
    incoming_key = _upload(options, cloud)
    execution_arn = _find_execution(sfn, cloud.state_machine_arn, before, EXECUTION_START_TIMEOUT_S)
    if execution_arn is None:
        metrics.error = f"no execution started for s3://{cloud.data_bucket}/{incoming_key}"
        return RunOutcome(1, metrics, metrics.error)
    run_id = execution_arn.rsplit(":", 1)[-1]
    metrics.run_id = run_id
    console.line(f"  execution {run_id}")
    outcome = RunOutcome(0, metrics, "", run_id=run_id)
    try:
        status, events = _follow_execution(sfn, execution_arn, _Progress(console), options.timeout_s)
        metrics.execution_status = status
        metrics.states = state_timings(state_visits(events))
        metrics.training_jobs_started = _training_jobs_started(
            cloud.client("sagemaker"), run_id, resource_prefix(cloud)
        )
        _judge(options, cloud, outcome, events, incoming_key, evaluation, console)
    finally:
        outcome.pipeline_leftovers = flatten_resources(cloud.list_resources_of_run(run_id))
        if options.final_cleanup:
            _cleanup(run_id, cloud)
        metrics.leaked_resources = flatten_resources(cloud.list_resources_of_run(run_id))
        outcome.bucket_keys = _bucket_keys(cloud.client("s3"), cloud.data_bucket)
    if metrics.leaked_resources and outcome.exit_code == 0:
        outcome.exit_code, outcome.message = (
            1,
            f"resources left behind: {', '.join(metrics.leaked_resources)}",
        )
    return outcome


def _bucket_keys(s3: Any, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [str(item["Key"]) for page in pages for item in page.get("Contents", [])]


def _judge(
    options: RunOptions,
    cloud: Any,
    outcome: RunOutcome,
    events: list[Any],
    incoming_key: str,
    evaluation: _Eval | None,
    console: _Console,
) -> None:
    """Refused (2), failed (1) or succeeded: then the models are copied and the set is clustered."""
    metrics = outcome.metrics
    reason = _rejection_reason(cloud.client("s3"), cloud.data_bucket, incoming_key)
    if reason is not None:
        metrics.error = reason
        outcome.exit_code, outcome.message = 2, reason
        return
    if metrics.execution_status != "SUCCEEDED":
        failure = execution_failure(events)
        metrics.error = failure.describe() if failure else f"execution ended {metrics.execution_status}"
        outcome.exit_code, outcome.message = 1, metrics.error
        return
    metrics.n_train = _count_records(options.train)
    if not options.engines:
        return  # moto's canned SageMaker trained nothing: there are no models to evaluate
    try:
        _evaluate(options, cloud, metrics, evaluation, console, outcome)
    except ClusterflowError as exc:
        metrics.error = f"clustering the evaluation set failed: {exc}"
        outcome.exit_code, outcome.message = 1, metrics.error


def _evaluate(
    options: RunOptions,
    cloud: Any,
    metrics: RunMetrics,
    evaluation: _Eval | None,
    console: _Console,
    outcome: RunOutcome,
) -> None:
    from clusterflow.app.names import run_names

    run_id = str(metrics.run_id)
    _copy_models(cloud.client("s3"), cloud.data_bucket, run_id, resource_prefix(cloud), options.out_dir)
    metrics.train_msd = _final_metric(
        cloud.client("sagemaker"), run_names(run_id, resource_prefix(cloud)).kmeans_training_job, "train:msd"
    )
    if evaluation is None:
        images, labels = _read_eval_set(options.train)
        evaluation = _Eval("train", images, labels)
    console.line(
        f"  clustering {len(evaluation.images)} {evaluation.name} images through the clustering Lambda"
    )
    function_name = cloud.deployment.function(CLUSTER_FUNCTION).name
    clusters, distances = cluster_through_lambda(cloud.client("lambda"), function_name, evaluation.images)
    scores = clustering_scores(evaluation.labels, clusters)
    metrics.clustered_set = evaluation.name
    metrics.n_test = len(evaluation.images)
    metrics.nmi, metrics.ari, metrics.purity = scores.nmi, scores.ari, scores.purity
    metrics.test_msd = float(np.mean(np.square(distances)))
    outcome.images, outcome.labels, outcome.clusters = evaluation.images, evaluation.labels, clusters


def _summarise(console: _Console, outcome: RunOutcome, out_dir: Path) -> None:
    metrics = outcome.metrics
    if outcome.exit_code == 2:
        console.error(f"error: input refused: {outcome.message}")
    elif metrics.execution_status != "SUCCEEDED":
        console.error(f"error: execution {metrics.execution_status}: {outcome.message}")
    elif outcome.exit_code != 0:
        console.error(f"error: {outcome.message}")
    console.line(f"execution {metrics.execution_status} in {metrics.wall_seconds} s; report in {out_dir}")
    if metrics.nmi is not None:
        console.line(
            f"  {metrics.clustered_set} set: NMI {metrics.nmi:.3f}  ARI {metrics.ari:.3f}"
            f"  purity {metrics.purity:.3f}  (n={metrics.n_test})"
        )
    leaked = ", ".join(metrics.leaked_resources) or "none"
    console.line(f"  training jobs started: {metrics.training_jobs_started}; resources left behind: {leaked}")


# --- `clusterflow cleanup --run-id` ---------------------------------------------------------------


def _find_run_bucket(s3: Any, run_id: str) -> str:
    """The bucket holding `runs/<run_id>/manifest.json` (local up has one; an account may have many)."""
    from clusterflow.app.names import manifest_key

    for entry in s3.list_buckets().get("Buckets", []):
        name = str(entry["Name"])
        with contextlib.suppress(Exception):
            s3.head_object(Bucket=name, Key=manifest_key(run_id))
            return name
    raise ClusterflowError(f"run {run_id}: no bucket holds its manifest; pass --bucket")


def cleanup_by_run_id(
    run_id: str,
    *,
    bucket: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    prefix: str = "clusterflow",
) -> list[str]:
    """Delete what the run left (boto3's own configuration, or local up's endpoint); returns what remains."""
    import boto3

    from clusterflow.app import cleanup

    session = boto3.session.Session(region_name=region)
    s3 = session.client("s3", endpoint_url=endpoint_url)
    sagemaker = session.client("sagemaker", endpoint_url=endpoint_url)
    bucket = bucket or _find_run_bucket(s3, run_id)
    with contextlib.suppress(ClusterflowError):
        cleanup.cleanup_run(s3, sagemaker, bucket=bucket, run_id=run_id, prefix=prefix, close=True)
    return list(cleanup.leaked_resources(s3, sagemaker, bucket=bucket, run_id=run_id, prefix=prefix))


# --- `clusterflow cluster --model-dir` ---------------------------------------------------------------


def _pixels_from_csv(path: Path) -> list[list[float]]:
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            values = [float(cell) for cell in line.split(",")]
        except ValueError as exc:
            raise DataFormatError(f"not a number ({exc})", source=str(path), line=number) from None
        if len(values) != FEATURE_DIM:
            raise DataFormatError(
                f"{len(values)} values, expected {FEATURE_DIM} pixels", source=str(path), line=number
            )
        rows.append(values)
    if not rows:
        raise DataFormatError("no pixel rows", source=str(path))
    return rows


def cluster_files(model_dir: Path, *, png: Path | None = None, pixels: Path | None = None) -> list[str]:
    """One line per image, `<image>: cluster <c> distance <d>`, with the models a run left in `model_dir`.

    The request goes through the clustering Lambda's own parsing and artifact-mode code.
    """
    from clusterflow.app import clustering
    from clusterflow.app.config import settings_from
    from clusterflow.artifacts.model import load_kmeans_model, load_pca_model

    paths = {name: model_dir / name / "model.tar.gz" for name in ("pca", "kmeans")}
    for path in paths.values():
        if not path.is_file():
            raise ClusterflowError(f"{path}: not found (is {model_dir} the --out of a local run?)")
    models = (load_pca_model(paths["pca"]), load_kmeans_model(paths["kmeans"]))
    clients = clustering.Clients(s3=None, sagemaker=None, runtime=None, models={model_dir.name: models})
    if png is not None:
        names = [png.name]
        body: dict[str, Any] = {"image_base64": base64.b64encode(png.read_bytes()).decode("ascii")}
        batches = [(names, body)]
    else:
        assert pixels is not None
        rows = _pixels_from_csv(pixels)
        batches = [
            (
                [f"{pixels.name} row {i + 1}" for i in range(start, min(start + CLUSTER_BATCH, len(rows)))],
                {"instances": [{"pixels": row} for row in rows[start : start + CLUSTER_BATCH]]},
            )
            for start in range(0, len(rows), CLUSTER_BATCH)
        ]
    settings = settings_from({})
    lines = []
    for names, request in batches:
        try:
            images = clustering.parse_request(function_url_event(request), settings)
        except RequestError as exc:
            raise ClusterflowError(f"{png or pixels}: {exc}") from None
        closest, distance = clustering.cluster_with_artifacts(clients, model_dir.name, {}, images)
        lines += [
            f"{name}: cluster {int(c)} distance {float(d):.3f}"
            for name, c, d in zip(names, closest, distance, strict=True)
        ]
    return lines
