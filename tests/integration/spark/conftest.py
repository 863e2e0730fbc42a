"""One local[2] SparkSession for every Spark test, and tiny data sets with their expected results."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from clusterflow.artifacts.model import PCAModel, write_model_tar
from clusterflow.formats.libsvm import write_libsvm
from clusterflow.formats.recordio import iter_recordio_batches

FEATURE_DIM = 12
NUM_COMPONENTS = 3


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from pyspark import SparkContext

    from clusterflow.spark.session import local_session

    # Another directory's tests in this worker may already run a session: share it, leave it running.
    ours = SparkContext._active_spark_context is None
    session = local_session("clusterflow-tests", cores=2, shuffle_partitions=2, quick_start=True)
    yield session
    if ours:
        session.stop()


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    labels: np.ndarray
    model: PCAModel


def _pca_of(X: np.ndarray, components: int) -> PCAModel:
    mean = X.mean(axis=0, keepdims=True)
    centred = X - mean
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)  # ascending, as SageMaker stores them
    top = slice(X.shape[1] - components, X.shape[1])
    return PCAModel(
        s=np.sqrt(np.maximum(eigenvalues[top], 0)).astype(np.float32),
        v=vectors[:, top].astype(np.float32),
        mean=mean.astype(np.float32),
    )


def make_dataset(rows: int, seed: int = 7) -> Dataset:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 256, size=(rows, FEATURE_DIM)).astype(np.float32)
    values[rng.random((rows, FEATURE_DIM)) < 0.4] = 0.0
    values[:, 0] += 0.25  # a fractional, never-zero column: labels and values must survive exactly
    labels = rng.integers(0, 10, size=rows).astype(np.float64)
    return Dataset(X=values, labels=labels, model=_pca_of(values.astype(np.float64), NUM_COMPONENTS))


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return make_dataset(40)


def write_inputs(directory: Path, data: Dataset, gz: bool = False) -> tuple[Path, Path]:
    """(libsvm file, model.tar.gz) for `data` under `directory`."""
    import gzip

    directory.mkdir(parents=True, exist_ok=True)
    libsvm = directory / ("train.libsvm.gz" if gz else "train.libsvm")
    if gz:
        with gzip.open(libsvm, "wb") as handle:
            write_libsvm(handle, data.labels, data.X)
    else:
        write_libsvm(libsvm, data.labels, data.X)
    model_tar = directory / "model.tar.gz"
    write_model_tar(model_tar, data.model)
    return libsvm, model_tar


def read_shards(prefix: Path, feature_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Every row and label of the part-NNNNN.pbr shards under `prefix`, in shard order."""
    matrices, labels = [], []
    for shard in sorted(prefix.glob("part-*.pbr")):
        with shard.open("rb") as handle:
            for y, X in iter_recordio_batches(handle, feature_dim):
                matrices.append(X)
                labels.append(y)
    return np.concatenate(matrices), np.concatenate(labels)


def sort_rows(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows in a canonical order, so outputs of any partitioning compare with the input."""
    order = np.lexsort(np.column_stack([labels, X]).T[::-1])
    return X[order], labels[order]


@pytest.fixture(scope="session")
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import this conftest by name)."""
    return SimpleNamespace(
        make_dataset=make_dataset,
        write_inputs=write_inputs,
        read_shards=read_shards,
        sort_rows=sort_rows,
        feature_dim=FEATURE_DIM,
        num_components=NUM_COMPONENTS,
    )
