"""Errors shared by every part of clusterflow.

Each carries enough context (file, line, parameter name) for a one-line message a user can act on.
"""

from __future__ import annotations


class ClusterflowError(Exception):
    """Base class: an expected failure with a message meant for the user (never a stack trace)."""


class DataFormatError(ClusterflowError):
    """Input data that does not parse: names the source, the 1-based line (or record) and the defect."""

    def __init__(self, defect: str, *, source: str | None = None, line: int | None = None) -> None:
        self.defect = defect
        self.source = source
        self.line = line
        where = source or "<input>"
        if line is not None:
            where = f"{where}, line {line}"
        super().__init__(f"{where}: {defect}")


class HyperparameterError(ClusterflowError):
    """An invalid or missing hyperparameter; names it, as SageMaker's ClientError does."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"hyperparameter '{name}': {reason}")


class RequestError(ClusterflowError):
    """A client error answered by an endpoint or the clustering Lambda (HTTP 4xx), never a 5xx."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


class ModelArtifactError(ClusterflowError):
    """A model.tar.gz or NDArray list that cannot be read."""
