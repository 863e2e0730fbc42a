from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sklearn.cluster import KMeans

from clusterflow.engine.hyperparameters import parse_kmeans_hyperparameters
from clusterflow.engine.kmeans import (
    _refine_pass,
    assign,
    fit_kmeans,
    kmeans_plus_plus,
    refine_on_data,
    squared_distance_totals,
    weighted_lloyd,
)
from clusterflow.errors import DataFormatError


def batches_of(X: np.ndarray, rows: int):  # type: ignore[no-untyped-def]
    def stream() -> Iterator[np.ndarray]:
        for start in range(0, X.shape[0], rows):
            yield X[start : start + rows]

    return stream


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def sklearn_ssd(projections50: np.ndarray) -> float:
    return float(KMeans(n_clusters=10, n_init=10, random_state=0).fit(projections50).inertia_)


def exact_ssd(X: np.ndarray, centroids: np.ndarray) -> float:
    diff = X.astype(np.float64)[:, None, :] - centroids.astype(np.float64)[None]
    return float((diff**2).sum(axis=2).min(axis=1).sum())


@pytest.mark.parametrize("seed", range(5))
def test_default_hyperparameters_within_1_percent_of_sklearn(projections50, sklearn_ssd, seed) -> None:  # type: ignore[no-untyped-def]
    params = parse_kmeans_hyperparameters({"feature_dim": "50", "k": "10"})
    lines: list[str] = []
    fit = fit_kmeans(batches_of(projections50, params.mini_batch_size), params, seed=seed, log=lines.append)
    ssd, rows = squared_distance_totals([projections50], fit.centroids)
    assert rows == 5000 and fit.centroids.shape == (10, 50) and fit.centroids.dtype == np.float32
    assert ssd <= 1.01 * sklearn_ssd
    assert "shrinking 100 centers into 10" in lines
    assert fit.train_rows == 5000 and fit.train_ssd == pytest.approx(
        exact_ssd(projections50, fit.centroids), rel=1e-5
    )


@pytest.fixture(scope="module")
def jittered15k(projections50: np.ndarray) -> np.ndarray:
    """Three noisy copies of the projections, shuffled: three full mini-batches of 5000 rows."""
    rng = np.random.default_rng(7)
    copies = [projections50 + rng.normal(0.0, 60.0, projections50.shape) for _ in range(3)]
    return np.concatenate(copies)[rng.permutation(15000)].astype(np.float32)


def test_several_mini_batches_within_1_percent_of_sklearn(jittered15k) -> None:  # type: ignore[no-untyped-def]
    reference = KMeans(n_clusters=10, n_init=10, random_state=0).fit(jittered15k).inertia_
    params = parse_kmeans_hyperparameters({"feature_dim": "50", "k": "10"})
    for seed in range(3):
        fit = fit_kmeans(batches_of(jittered15k, 5000), params, seed=seed, log=quiet)
        assert fit.rows_seen == 15000 and fit.train_rows == 15000
        assert exact_ssd(jittered15k, fit.centroids) <= 1.01 * reference


def test_refinement_improves_on_the_reduction_and_streams(projections50) -> None:  # type: ignore[no-untyped-def]
    params = parse_kmeans_hyperparameters({"feature_dim": "50", "k": "10", "mini_batch_size": "1000"})
    calls = 0
    X = projections50

    def counted() -> Iterator[np.ndarray]:
        nonlocal calls
        calls += 1
        for start in range(0, X.shape[0], 1000):
            yield X[start : start + 1000]

    lines: list[str] = []
    fit = fit_kmeans(counted, params, seed=3, log=lines.append)
    passes = int(next(line for line in lines if line.startswith("refined")).split(" passes")[0].split()[-1])
    assert calls == 1 + passes and 1 <= passes <= 10
    reduced, _ = weighted_lloyd(
        fit.streaming_centers, fit.streaming_weights, params, np.random.default_rng(3)
    )
    assert exact_ssd(X, fit.centroids) < exact_ssd(X, reduced)


def test_refine_on_data_keeps_the_better_candidate_and_converges() -> None:
    X = np.array([[0.0], [1.0], [10.0], [11.0], [20.0], [21.0]], np.float32)
    poor = np.array([[0.0], [15.0], [21.0]])  # rows 10 and 11 far from any centre
    good = np.array([[0.2], [9.0], [19.0]])
    refined = refine_on_data(batches_of(X, 4), [poor, good], tol=0.0, max_passes=10, halve_every=1)
    np.testing.assert_allclose(refined.centroids[:, 0], [0.5, 10.5, 20.5])
    assert refined.rows == 6 and refined.ssd == pytest.approx(6 * 0.25)
    assert refined.passes < 10  # stops once a pass no longer lowers the SSD


def test_refine_ties_go_to_the_lowest_index() -> None:
    X = np.array([[1.0], [3.0]], np.float32)
    twins = np.array([[1.0], [1.0], [3.0]])  # rows at 1.0 are equally near centres 0 and 1
    refined = refine_on_data(batches_of(X, 2), [twins], tol=0.0, max_passes=2, halve_every=1)
    np.testing.assert_allclose(refined.centroids[:, 0], [1.0, 1.0, 3.0])
    sums, counts, ssd, rows = _refine_pass([X], twins, 1)
    assert counts.tolist() == [1.0, 0.0, 1.0] and ssd.tolist() == [0.0] and rows == 2


def test_smaller_mini_batches_and_epochs_stay_close(projections50, sklearn_ssd) -> None:  # type: ignore[no-untyped-def]
    params = parse_kmeans_hyperparameters(
        {"feature_dim": "50", "k": "10", "mini_batch_size": "500", "epochs": "2", "init_method": "kmeans++"}
    )
    fit = fit_kmeans(batches_of(projections50, 500), params, seed=1, log=quiet)
    assert fit.rows_seen == 10000
    ssd, _ = squared_distance_totals([projections50], fit.centroids)
    assert ssd <= 1.05 * sklearn_ssd


def test_reproducible_for_a_seed(projections50) -> None:  # type: ignore[no-untyped-def]
    params = parse_kmeans_hyperparameters({"feature_dim": "50", "k": "5", "local_lloyd_num_trials": "2"})
    data = batches_of(projections50[:2000], 5000)
    first = fit_kmeans(data, params, seed=4, log=quiet)
    again = fit_kmeans(data, params, seed=4, log=quiet)
    other = fit_kmeans(data, params, seed=5, log=quiet)
    assert np.array_equal(first.centroids, again.centroids)
    assert not np.array_equal(first.centroids, other.centroids)


def test_streaming_update_is_the_count_weighted_mean() -> None:
    # Two well separated groups; K = 2 * 1 streaming centres, so each centre ends at its group's mean.
    X = np.array(
        [[0.0, 0.0], [0.0, 2.0], [900.0, 900.0], [900.0, 902.0], [0.0, 1.0], [900.0, 901.0]], np.float32
    )
    params = parse_kmeans_hyperparameters(
        {
            "feature_dim": "2",
            "k": "2",
            "extra_center_factor": "1",
            "mini_batch_size": "4",
            "init_method": "kmeans++",
        }
    )
    fit = fit_kmeans(batches_of(X, 4), params, seed=0, log=quiet)
    order = np.argsort(fit.streaming_centers[:, 0])
    np.testing.assert_allclose(fit.streaming_centers[order], [[0.0, 1.0], [900.0, 901.0]], atol=1e-4)
    np.testing.assert_allclose(fit.streaming_weights[order], [3.0, 3.0])


def test_half_life_decays_old_weights() -> None:
    X = np.array([[0.0], [0.0], [4.0], [4.0], [1.0], [5.0]], np.float32)
    base = {
        "feature_dim": "1",
        "k": "2",
        "extra_center_factor": "1",
        "mini_batch_size": "4",
        "init_method": "kmeans++",
    }
    plain = fit_kmeans(batches_of(X, 4), parse_kmeans_hyperparameters(base), log=quiet)
    decayed = fit_kmeans(
        batches_of(X, 4), parse_kmeans_hyperparameters({**base, "half_life_time_size": "2"}), log=quiet
    )
    order = np.argsort(plain.streaming_centers[:, 0])
    np.testing.assert_allclose(plain.streaming_centers[order, 0], [1 / 3, 13 / 3], rtol=1e-6)
    # Batch 2 has 2 rows, half life 2 rows: old weights 2 -> 1, so each centre moves halfway.
    np.testing.assert_allclose(decayed.streaming_centers[order, 0], [0.5, 4.5], rtol=1e-6)
    np.testing.assert_allclose(decayed.streaming_weights[order], [2.0, 2.0])


def test_weighted_lloyd_respects_weights() -> None:
    points = np.array([[0.0], [1.0], [10.0], [11.0], [30.0]])
    weights = np.array([1.0, 3.0, 1.0, 1.0, 0.0])  # the zero-weight point takes no part
    params = parse_kmeans_hyperparameters({"feature_dim": "1", "k": "2"})
    centroids, loss = weighted_lloyd(points, weights, params, np.random.default_rng(0))
    np.testing.assert_allclose(np.sort(centroids[:, 0]), [0.75, 10.5])
    assert loss == pytest.approx(3 * 0.0625 + 0.5625 + 0.25 + 0.25)


def test_kmeans_plus_plus_never_picks_zero_weight_points() -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(40, 3))
    weights = np.where(np.arange(40) % 2 == 0, 1.0, 0.0)
    chosen = kmeans_plus_plus(points, weights, 10, rng)
    picked = {int(np.flatnonzero((points == row).all(axis=1))[0]) for row in chosen}
    assert len(picked) == 10 and all(index % 2 == 0 for index in picked)


def test_ties_go_to_the_lowest_index() -> None:
    closest, dist = assign(np.array([[1.0, 0.0]], np.float32), np.array([[0.0, 0.0], [2.0, 0.0]]))
    assert closest.tolist() == [0] and dist.tolist() == [1.0]


def test_first_batch_smaller_than_k_times_factor_is_buffered() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 2)).astype(np.float32)
    params = parse_kmeans_hyperparameters({"feature_dim": "2", "k": "3", "mini_batch_size": "10"})
    fit = fit_kmeans(batches_of(X, 10), params, log=quiet)
    assert fit.streaming_centers.shape == (30, 2) and fit.streaming_weights.sum() == pytest.approx(90)


def test_fewer_rows_than_k_is_an_error() -> None:
    params = parse_kmeans_hyperparameters({"feature_dim": "2", "k": "3"})
    with pytest.raises(DataFormatError, match="k=3 exceeds the 2 training rows"):
        fit_kmeans(lambda: iter([np.zeros((2, 2), np.float32)]), params, log=quiet)


def test_wrong_width_and_empty_channel() -> None:
    params = parse_kmeans_hyperparameters({"feature_dim": "2", "k": "2"})
    with pytest.raises(DataFormatError, match="3 features, but feature_dim is 2"):
        fit_kmeans(lambda: iter([np.zeros((4, 3), np.float32)]), params, log=quiet)
    with pytest.raises(DataFormatError, match="no rows"):
        fit_kmeans(lambda: iter([]), params, log=quiet)
