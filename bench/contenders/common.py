"""Arguments and the result file every contender shares."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

COMPONENTS = 50
CLUSTERS = 10
FEATURES = 784


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    return args


def write_labels(work: Path, labels: np.ndarray, truth: np.ndarray | None = None) -> float:
    """Save the test cluster labels (and the true labels in the same order when the reader may reorder
    rows); returns the wall-clock moment they were written."""
    np.save(work / "labels.npy", np.asarray(labels, dtype=np.int64))
    if truth is not None:
        np.save(work / "truth.npy", np.asarray(truth, dtype=np.float64))
    return time.time()


def write_result(work: Path, result: dict[str, Any]) -> None:
    (work / "result.json").write_text(json.dumps(result, indent=2))
