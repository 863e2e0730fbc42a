"""Stream a libsvm file as dense row blocks (never the whole file in memory) for the harness's own checks."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sklearn.datasets import load_svmlight_file

FEATURES = 784


def iter_dense_blocks(
    path: Path, rows: int = 20_000, n_features: int = FEATURES
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (X float64 (m, n_features), y (m,)) blocks of at most `rows` rows, in file order."""
    with open(path, "rb") as source:
        while True:
            lines = [line for line in (source.readline() for _ in range(rows)) if line]
            if not lines:
                return
            features, labels = load_svmlight_file(io.BytesIO(b"".join(lines)), n_features=n_features)
            yield np.asarray(features.todense()), np.asarray(labels)
            if len(lines) < rows:
                return


def read_labels(path: Path) -> np.ndarray:
    """The first token of every non-empty line, as a float array."""
    with open(path, "rb") as source:
        return np.array([float(line.split(maxsplit=1)[0]) for line in source if line.strip()])


def count_rows(path: Path) -> int:
    with open(path, "rb") as source:
        return sum(1 for line in source if line.strip())
