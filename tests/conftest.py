"""Fixtures every test directory may use. Part-specific fixtures live in each directory's conftest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# CI clones the repo with shared/ beside it; a checkout may also carry shared/ inside.
_SHARED_CANDIDATES = (REPO_ROOT.parent / "shared", REPO_ROOT / "shared")

# No test may reach AWS: fake credentials and a fixed region for every boto3 client.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "clusterflow-tests")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sagemaker_fixtures() -> Path:
    """The real SageMaker artifacts in ../shared/fixtures/sagemaker-artifacts (see shared/REFERENCE.md)."""
    for base in _SHARED_CANDIDATES:
        path = base / "fixtures" / "sagemaker-artifacts"
        if path.is_dir():
            return path
    raise FileNotFoundError(
        "shared/fixtures/sagemaker-artifacts not found beside or inside the repository; "
        "CI and every checkout have ../shared"
    )
