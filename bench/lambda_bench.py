"""The clustering Lambda: cold initialisation and warm latency, artifact mode and endpoint mode.

Runs `bench.lambda_host` in its own process (the local cloud resets moto's global state) with the
model artifacts of the bench's first clusterflow run on the MNIST sample.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.lambda_host import HANDLER, REPO_ROOT
from bench.pipelines import Dataset

_NEEDED_MODULES = ("clusterflow.app.clustering", "clusterflow.local.cloud", "clusterflow.artifacts")


def find_models(runs: Path) -> Path:
    """The output of a clusterflow run that left both artifacts, the MNIST sample's first."""
    candidates = sorted(
        runs.glob("*/clusterflow-*/out"), key=lambda p: (p.parts[-3] != "mnist-sample", str(p))
    )
    for out in candidates:
        if all((out / algorithm / "model.tar.gz").exists() for algorithm in ("pca", "kmeans")):
            return out
    return runs / "mnist-sample" / "clusterflow-0" / "out"


def missing_parts(model_dir: Path) -> str | None:
    for module in _NEEDED_MODULES:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not in this checkout"
    for path in (HANDLER, REPO_ROOT / "template.yaml"):
        if not path.exists():
            return f"{path.relative_to(REPO_ROOT)} is not in this checkout"
    for algorithm in ("pca", "kmeans"):
        if not (model_dir / algorithm / "model.tar.gz").exists():
            return (
                f"no {algorithm} model.tar.gz from a clusterflow run in {model_dir} (did the MNIST run fail?)"
            )
    return None


def measure(model_dir: Path, sample: Dataset, work: Path) -> dict[str, Any]:
    reason = missing_parts(model_dir)
    if reason:
        return {"unavailable": reason}
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.lambda_host", "--models", str(model_dir)]
    command += ["--test", str(sample.test), "--work", str(work)]
    with open(work / "host.log", "wb") as log:
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, timeout=1200)
    result_path = work / "lambda.json"
    if done.returncode != 0 or not result_path.exists():
        tail = (work / "host.log").read_text(errors="replace")[-800:]
        return {"unavailable": f"lambda host exit {done.returncode}: {tail}"}
    loaded: dict[str, Any] = json.loads(result_path.read_text())
    return loaded
