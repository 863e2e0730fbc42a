"""Run ids and the names of everything a run creates.

The run id is the Step Functions execution name. Every SageMaker name is derived from it, fits the
63-character pattern `[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}` and carries a hash of the whole run id, so
two runs never share a name even when their readable parts are truncated alike.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass

EXECUTION_NAME_MAX = 80
SAGEMAKER_NAME_MAX = 63
_SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# Longest suffix below ("kmeans-ep") plus separators: keeps every derived name within 63.
_SUFFIX_ROOM = 10
DEFAULT_PREFIX = "clusterflow"
# The template's ResourcePrefix parameter has the same pattern; IAM policies match `<prefix>-*`.
PREFIX_PATTERN = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"
PREFIX_MAX = 20


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _slug(text: str, allowed: str) -> str:
    return re.sub(f"[^{allowed}]+", "-", text).strip("-_")


def run_id_for_object(bucket: str, key: str, version_id: str | None) -> str:
    """Deterministic execution name for one object version: a duplicate event maps to the same name."""
    stem = key.rsplit("/", 1)[-1]
    for suffix in (".gz", ".libsvm"):
        stem = stem.removesuffix(suffix)
    digest = _digest(f"{bucket}\n{key}\n{version_id or 'null'}", 16)
    readable = _slug(stem, "A-Za-z0-9_-")[: EXECUTION_NAME_MAX - len(digest) - 1] or "upload"
    return f"{readable}-{digest}"


def is_valid_execution_name(name: str) -> bool:
    return bool(_EXECUTION_NAME.match(name))


def is_valid_sagemaker_name(name: str) -> bool:
    return bool(_SAGEMAKER_NAME.match(name))


def resource_base(run_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """`<prefix>-<readable>-<hash>`: SageMaker-safe, leaves room for the suffixes in `RunNames`."""
    if not re.match(PREFIX_PATTERN, prefix) or len(prefix) > PREFIX_MAX:
        raise ValueError(
            f"resource prefix {prefix!r} must match {PREFIX_PATTERN} and be at most {PREFIX_MAX} chars"
        )
    digest = _digest(run_id, 10)
    room = SAGEMAKER_NAME_MAX - _SUFFIX_ROOM - len(prefix) - 2 - len(digest)
    readable = re.sub("-+", "-", _slug(run_id, "A-Za-z0-9"))[:room].strip("-")
    return f"{prefix}-{readable}-{digest}" if readable else f"{prefix}-{digest}"


@dataclass(frozen=True)
class RunNames:
    """Every name a run uses, all derived from the run id."""

    run_id: str
    pca_training_job: str
    kmeans_training_job: str
    pca_model: str
    kmeans_model: str
    pca_endpoint_config: str
    kmeans_endpoint_config: str
    pca_endpoint: str
    kmeans_endpoint: str
    prepare_job_run: str
    project_job_run: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def sagemaker_names(self) -> list[str]:
        return [value for key, value in self.as_dict().items() if key not in {"run_id"}]


def run_names(run_id: str, prefix: str = DEFAULT_PREFIX) -> RunNames:
    base = resource_base(run_id, prefix)
    return RunNames(
        run_id=run_id,
        pca_training_job=f"{base}-pca",
        kmeans_training_job=f"{base}-kmeans",
        pca_model=f"{base}-pca",
        kmeans_model=f"{base}-kmeans",
        pca_endpoint_config=f"{base}-pca",
        kmeans_endpoint_config=f"{base}-kmeans",
        pca_endpoint=f"{base}-pca-ep",
        kmeans_endpoint=f"{base}-kmeans-ep",
        prepare_job_run=f"{base}-prepare",
        project_job_run=f"{base}-project",
    )


def run_prefix(run_id: str) -> str:
    return f"runs/{run_id}/"


def staging_prefix(run_id: str) -> str:
    return f"runs/{run_id}/staging/"


def models_prefix(run_id: str) -> str:
    return f"runs/{run_id}/models/"


def projections_prefix(run_id: str) -> str:
    return f"runs/{run_id}/projections/"


def manifest_key(run_id: str) -> str:
    return f"runs/{run_id}/manifest.json"


def closed_key(run_id: str) -> str:
    return f"runs/{run_id}/closed.json"


LATEST_KEY = "runs/latest.json"


def rejected_key(incoming_key: str) -> str:
    return "rejected/" + incoming_key.removeprefix("incoming/")


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
