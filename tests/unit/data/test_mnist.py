from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clusterflow.data.mnist import load_mnist_sample, mnist_sample_path, stratified_split, write_mnist_sample
from clusterflow.errors import ClusterflowError
from clusterflow.formats.libsvm import read_libsvm


def test_sample_is_real_mnist() -> None:
    X, y = load_mnist_sample()
    assert X.shape == (5000, 784) and X.dtype == np.float32
    assert y.shape == (5000,) and set(np.unique(y)) == set(range(10))
    assert X.min() == 0.0 and X.max() == 255.0
    assert np.array_equal(X, np.round(X)), "pixels are integers"
    # A digit is mostly background: on average well under half the pixels are lit.
    assert 0.1 < (X > 0).mean() < 0.3
    assert mnist_sample_path().name == "mnist_5k.csv.gz"


def test_copies_are_independent() -> None:
    X, _ = load_mnist_sample()
    X[0, 0] = -1.0
    assert load_mnist_sample()[0][0, 0] != -1.0


def test_split_is_stratified_and_deterministic() -> None:
    _, y = load_mnist_sample()
    train, test = stratified_split(y, 0.2)
    assert len(train) == 4000 and len(test) == 1000
    assert not set(train) & set(test)
    for label in range(10):
        assert abs((y[test] == label).sum() - 0.2 * (y == label).sum()) <= 0.5
    again = stratified_split(y, 0.2)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_split_fraction_must_be_proper(fraction: float) -> None:
    with pytest.raises(ClusterflowError, match="test_fraction"):
        stratified_split(np.arange(10), fraction)


def test_write_mnist_sample_round_trips(tmp_path: Path) -> None:
    train_path, test_path = write_mnist_sample(tmp_path / "out")
    X, y = load_mnist_sample()
    train_rows, test_rows = stratified_split(y, 0.2)
    for path, rows in ((train_path, train_rows), (test_path, test_rows)):
        labels, features = read_libsvm(path, 784)
        assert np.array_equal(features, X[rows]) and np.array_equal(labels, y[rows].astype(np.float64))
    first_line = train_path.read_text().splitlines()[0]
    indices = [int(pair.split(":")[0]) for pair in first_line.split()[1:]]
    assert indices == sorted(indices) and indices[0] >= 1, "1-based ascending, zeros omitted"
