from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import scipy.linalg

from clusterflow.engine.hyperparameters import parse_pca_hyperparameters
from clusterflow.engine.pca import fit_pca
from clusterflow.errors import DataFormatError, HyperparameterError


def batches_of(X: np.ndarray, rows: int):  # type: ignore[no-untyped-def]
    def stream() -> Iterator[np.ndarray]:
        for start in range(0, X.shape[0], rows):
            yield X[start : start + rows]

    return stream


def params(**overrides: str):  # type: ignore[no-untyped-def]
    return parse_pca_hyperparameters(
        {"feature_dim": "784", "mini_batch_size": "700", "num_components": "50", **overrides}
    )


def test_regular_spans_the_exact_principal_subspace(mnist, exact_scatter) -> None:  # type: ignore[no-untyped-def]
    X = mnist[0]
    eigenvalues, eigenvectors = exact_scatter
    result = fit_pca(batches_of(X, 700), params())
    angles = scipy.linalg.subspace_angles(result.v.astype(np.float64), eigenvectors[:, -50:])
    assert angles.max() < 1e-3
    np.testing.assert_allclose(result.s, np.sqrt(eigenvalues[-50:]), rtol=1e-4)
    assert np.all(np.diff(result.s) >= 0), "components are stored ascending, largest last"
    np.testing.assert_allclose(result.v.T @ result.v, np.eye(50), atol=1e-5)
    np.testing.assert_allclose(result.mean[0], X.mean(axis=0), rtol=1e-5, atol=1e-3)
    assert result.s.dtype == result.v.dtype == result.mean.dtype == np.float32


def test_regular_does_not_depend_on_batch_size(mnist) -> None:  # type: ignore[no-untyped-def]
    X = mnist[0][:1200]
    one = fit_pca(batches_of(X, 1200), params(num_components="5"))
    many = fit_pca(batches_of(X, 97), params(num_components="5"))
    np.testing.assert_allclose(one.s, many.s, rtol=1e-5)
    np.testing.assert_allclose(np.abs(one.v.T @ many.v), np.eye(5), atol=1e-4)


@pytest.mark.parametrize("num_components", [10, 50])
def test_randomized_keeps_99_percent_of_exact_variance(mnist, exact_scatter, num_components: int) -> None:  # type: ignore[no-untyped-def]
    X = mnist[0]
    eigenvalues, _ = exact_scatter
    centred = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    result = fit_pca(
        batches_of(X, 700), params(num_components=str(num_components), algorithm_mode="randomized"), seed=3
    )
    V = result.v.astype(np.float64)
    captured = np.sum((centred @ V) ** 2)
    exact = eigenvalues[-num_components:].sum()
    assert captured / exact >= 0.99
    # s estimates sqrt(eigenvalue) of the same scatter as regular mode.
    np.testing.assert_allclose(result.s[-3:], np.sqrt(eigenvalues[-3:]), rtol=0.02)


def test_randomized_is_reproducible_per_seed(mnist) -> None:  # type: ignore[no-untyped-def]
    X = mnist[0][:1000]
    p = params(num_components="5", algorithm_mode="randomized")
    first, again = fit_pca(batches_of(X, 300), p, seed=7), fit_pca(batches_of(X, 300), p, seed=7)
    other = fit_pca(batches_of(X, 300), p, seed=8)
    assert np.array_equal(first.v, again.v) and np.array_equal(first.s, again.s)
    assert not np.array_equal(first.v, other.v)


def test_without_mean_subtraction_uses_the_raw_scatter() -> None:
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(400, 6)) + 5.0).astype(np.float32)
    p = parse_pca_hyperparameters(
        {"feature_dim": "6", "mini_batch_size": "64", "num_components": "2", "subtract_mean": "false"}
    )
    result = fit_pca(batches_of(X, 64), p)
    assert result.mean is None
    eigenvalues, vectors = np.linalg.eigh(X.astype(np.float64).T @ X)
    np.testing.assert_allclose(result.s, np.sqrt(eigenvalues[-2:]), rtol=1e-5)
    assert scipy.linalg.subspace_angles(result.v.astype(np.float64), vectors[:, -2:]).max() < 1e-3


def test_sign_convention_largest_entry_positive(mnist) -> None:  # type: ignore[no-untyped-def]
    result = fit_pca(batches_of(mnist[0][:800], 800), params(num_components="8"))
    pivots = np.argmax(np.abs(result.v), axis=0)
    assert np.all(result.v[pivots, np.arange(8)] > 0)


def test_negative_float32_eigenvalues_become_nan() -> None:
    # Rank-1 data: the trailing eigenvalues are ~0 and round to tiny negatives, as in real artifacts.
    rng = np.random.default_rng(1)
    direction = rng.normal(size=(1, 8))
    X = (rng.normal(size=(300, 1)) @ direction).astype(np.float32)
    p = parse_pca_hyperparameters({"feature_dim": "8", "mini_batch_size": "100", "num_components": "8"})
    result = fit_pca(batches_of(X, 100), p)
    assert np.isnan(result.s[:2]).all(), "the smallest eigenvalues are negative after rounding"
    assert np.isfinite(result.s[-1]) and result.s[-1] > 1.0


def test_memory_stays_independent_of_rows() -> None:
    # 20 batches stream through; only the d x d scatter is kept, so a generator that cannot be replayed
    # in regular mode still works (the data is never stored).
    rng = np.random.default_rng(2)
    p = parse_pca_hyperparameters({"feature_dim": "4", "mini_batch_size": "50", "num_components": "2"})
    blocks = [rng.normal(size=(50, 4)).astype(np.float32) for _ in range(20)]
    consumed: list[int] = []

    def stream() -> Iterator[np.ndarray]:
        for block in blocks:
            consumed.append(block.shape[0])
            yield block

    result = fit_pca(stream, p)
    assert sum(consumed) == 1000 and result.v.shape == (4, 2)


def test_errors() -> None:
    p = parse_pca_hyperparameters({"feature_dim": "4", "mini_batch_size": "5", "num_components": "5"})
    with pytest.raises(HyperparameterError, match="num_components"):
        fit_pca(lambda: iter([np.zeros((5, 4), np.float32)]), p)
    p = parse_pca_hyperparameters({"feature_dim": "4", "mini_batch_size": "5", "num_components": "2"})
    with pytest.raises(DataFormatError, match="3 features, but feature_dim is 4"):
        fit_pca(lambda: iter([np.zeros((5, 3), np.float32)]), p)
    with pytest.raises(DataFormatError, match="no rows"):
        fit_pca(lambda: iter([]), p)
