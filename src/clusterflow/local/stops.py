"""Seam 7: the stop calls the cleanup makes, which moto 5.2.5 does not implement.

SageMaker `StopTrainingJob` and Glue `BatchStopJobRun` answer `NotImplementedError` in moto (EMR
Serverless `CancelJobRun` exists). `JobStops` adds them to moto's response classes:
- `StopTrainingJob`: an InProgress job becomes Stopped (secondary status Stopped, end time set); a job
  that already ended is left as it is (AWS refuses with a ValidationException, and so do we); an unknown
  job answers moto's own "Could not find training job" ValidationException.
- `BatchStopJobRun`: each named run that is still going is held at STOPPED; unknown ids are reported in
  `Errors`, as Glue does.
A worker of the engine seams that finishes after the stop leaves the Stopped / STOPPED state alone
(`is_stopped`).

API: `JobStops().install()`, `.uninstall()`; `is_stopped(job_or_run)`.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.glue.responses import GlueResponse
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

STOPPED_STATES = frozenset({"Stopped", "Stopping", "STOPPED", "STOPPING", "CANCELLED", "CANCELLING"})
_GLUE_ACTIVE = frozenset({"STARTING", "RUNNING", "WAITING"})


def is_stopped(job_or_run: Any) -> bool:
    """A SageMaker training job, Glue run or EMR Serverless run the cleanup has stopped."""
    for attribute in ("training_job_status", "_status", "state"):
        if str(getattr(job_or_run, attribute, "")) in STOPPED_STATES:
            return True
    return False


def _stop_training_job(response: SageMakerResponse) -> ActionResult:
    name = response._get_param("TrainingJobName")
    backend = response.sagemaker_backend
    backend.describe_training_job(name)  # moto's own error for an unknown job
    job = backend.training_jobs[name]
    if job.training_job_status != "InProgress":
        status = job.training_job_status
        raise ValidationError(f"The request was rejected because the training job is in status {status}.")
    job.training_job_status = "Stopped"
    job.secondary_status = "Stopped"
    job.training_end_time = utcnow()
    return ActionResult({})


def _batch_stop_job_run(response: GlueResponse) -> ActionResult:
    job = response.glue_backend.get_job(response._get_param("JobName"))
    runs = {run.job_run_id: run for run in job.job_runs}
    stopped, errors = [], []
    for run_id in response._get_param("JobRunIds"):
        run = runs.get(run_id)
        if run is None:
            detail = {"ErrorCode": "EntityNotFoundException", "ErrorMessage": f"Job run {run_id} not found"}
            errors.append({"JobName": job.name, "JobRunId": run_id, "ErrorDetail": detail})
            continue
        if run._status in _GLUE_ACTIVE:
            run._transitions = [("STOPPED", "STOPPED")]  # moto would advance it when it is next read
            run._status = "STOPPED"
            run.completed_on = run.modified_on = utcnow()
        stopped.append({"JobName": job.name, "JobRunId": run_id})
    return ActionResult({"SuccessfulSubmissions": stopped, "Errors": errors})


class JobStops:
    """Adds the two stop actions to moto while installed."""

    _ACTIONS = (
        (SageMakerResponse, "stop_training_job", _stop_training_job),
        (GlueResponse, "batch_stop_job_run", _batch_stop_job_run),
    )

    def __init__(self) -> None:
        self._installed: list[tuple[type, str, Any]] = []

    def install(self) -> None:
        if self._installed:
            return
        for owner, name, action in self._ACTIONS:
            self._installed.append((owner, name, owner.__dict__.get(name)))
            setattr(owner, name, action)

    def uninstall(self) -> None:
        for owner, name, previous in reversed(self._installed):
            if previous is None:
                delattr(owner, name)
            else:
                setattr(owner, name, previous)
        self._installed = []
