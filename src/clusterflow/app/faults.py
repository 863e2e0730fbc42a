"""Errors the Lambdas raise by name: Step Functions matches Retry/Catch on the exception class name.

Transient ones (`TransientServiceError`, `ResourceNotReady`) are retried with backoff by the state
machine; the rest end the run through the failure cleanup, which fails it with the original error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from botocore.exceptions import ClientError

from clusterflow.errors import ClusterflowError

T = TypeVar("T")

# Error codes AWS services use for throttling or a momentary outage: safe to retry.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "SlowDown",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceException",
        "ConcurrentRunsExceededException",
    }
)


class InputRejected(ClusterflowError):
    """The uploaded object was refused before anything was started; the message names the defect."""


class TransientServiceError(ClusterflowError):
    """A throttling or momentary service error; the state machine retries it with backoff."""


class ResourceNotReady(ClusterflowError):
    """A resource just created is not visible yet (eventual consistency); retried with backoff."""


class TrainingJobFailed(ClusterflowError):
    """A SageMaker training job ended Failed or Stopped; the message carries SageMaker's FailureReason."""


class SparkJobFailed(ClusterflowError):
    """The Glue or EMR Serverless job run ended in a failed state."""


class EndpointFailed(ClusterflowError):
    """A SageMaker endpoint ended Failed instead of InService."""


class PollLimitExceeded(ClusterflowError):
    """A poll loop reached its attempt bound without the resource reaching a final state."""


class RunClosed(ClusterflowError):
    """The run's cleanup has begun: a state still in flight must not leave anything running."""


class ConfigurationError(ClusterflowError):
    """The Lambda environment or the run parameters are invalid."""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_throttling(exc: ClientError) -> bool:
    return error_code(exc) in THROTTLING_CODES


@contextmanager
def transient_errors_named(service: str) -> Iterator[None]:
    """Re-raise throttling-type ClientErrors as `TransientServiceError` so Retry can name them."""
    try:
        yield
    except ClientError as exc:
        if is_throttling(exc):
            raise TransientServiceError(f"{service}: {error_code(exc)}: {exc}") from exc
        raise


def call_aws(service: str, call: Callable[[], T]) -> T:
    with transient_errors_named(service):
        return call()
