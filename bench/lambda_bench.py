"""The clustering Lambda: cold initialisation and warm latency, artifact mode and endpoint mode."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from bench.pipelines import Dataset


def measure(model_dir: Path, sample: Dataset, work: Path) -> dict[str, Any]:
    if importlib.util.find_spec("clusterflow.app.clustering") is None:
        return {
            "unavailable": "clusterflow.app.clustering (the clustering Lambda) is not in this checkout"
        }
    return {"unavailable": "not wired yet"}
