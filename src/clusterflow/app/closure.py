"""The run's closed marker: the failure cleanup writes it before it looks for what to delete, and every
state that creates a billable resource checks it before and after creating.

When one branch of a Parallel state fails, Step Functions stops the other branch but a Lambda call
already in flight still completes: a job it starts after the cleanup has listed the run's resources
would run on with nobody to stop it. With the marker, that call either refuses to start or stops
what it just started.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from clusterflow.app.faults import RunClosed
from clusterflow.app.names import closed_key
from clusterflow.app.storage import now_iso, read_json, write_json

T = TypeVar("T")


def close_run(s3: Any, bucket: str, run_id: str, reason: str) -> None:
    write_json(s3, bucket, closed_key(run_id), {"run_id": run_id, "closed_at": now_iso(), "reason": reason})


def is_closed(s3: Any, bucket: str, run_id: str) -> bool:
    return read_json(s3, bucket, closed_key(run_id)) is not None


def create_while_open(
    s3: Any, *, bucket: str, run_id: str, what: str, create: Callable[[], T], undo: Callable[[T], object]
) -> T:
    """`create()` unless the run is closed; if it closed meanwhile, `undo(created)` and raise RunClosed."""
    if is_closed(s3, bucket, run_id):
        raise RunClosed(f"run {run_id} is being cleaned up: {what} not started")
    created = create()
    if is_closed(s3, bucket, run_id):
        undo(created)
        raise RunClosed(f"run {run_id} was cleaned up while {what} started: stopped it again")
    return created
