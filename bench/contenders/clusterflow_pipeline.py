"""clusterflow: `clusterflow local run` (the whole event-driven pipeline, offline) in its own process.

Its test labels and training SSD come afterwards, outside the timed run, from the two
`model.tar.gz` it wrote: project with the PCA artifact, assign with the K-Means artifact.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.chunks import iter_dense_blocks
from bench.clustering_math import sum_squared_distances


def cli_command(*args: str) -> list[str]:
    """The `clusterflow` console script of this interpreter's environment (or the module entry point)."""
    script = Path(sys.executable).parent / "clusterflow"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from clusterflow.cli import main; main()", *args]


def run_command(train: Path, test: Path, out: Path) -> list[str]:
    return cli_command("local", "run", "--train", str(train), "--test", str(test), "--out", str(out))


def _models(out: Path) -> tuple[Any, Any]:
    from clusterflow.artifacts import load_kmeans_model, load_pca_model

    return load_pca_model(out / "pca" / "model.tar.gz"), load_kmeans_model(out / "kmeans" / "model.tar.gz")


def evaluate(out: Path, train: Path, test: Path) -> dict[str, Any]:
    """Test labels (with their true labels) and the training SSD from the run's artifacts, streamed."""
    pca, kmeans = _models(out)
    ssd = 0.0
    for features, _ in iter_dense_blocks(train):
        ssd += sum_squared_distances(pca.project(features), kmeans.centroids)
    labels, truth = [], []
    for features, block_truth in iter_dense_blocks(test):
        labels.append(kmeans.assign(pca.project(features))[0])
        truth.append(block_truth)
    return {"labels": np.concatenate(labels), "truth": np.concatenate(truth), "train_ssd": ssd}


def read_metrics(out: Path) -> dict[str, Any] | None:
    path = out / "metrics.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded
