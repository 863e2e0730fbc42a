from __future__ import annotations

import pytest

from clusterflow.engine.hyperparameters import (
    KMeansHyperparameters,
    PCAHyperparameters,
    parse_kmeans_hyperparameters,
    parse_pca_hyperparameters,
)
from clusterflow.errors import HyperparameterError

PCA_BASE = {"feature_dim": "784", "mini_batch_size": "500", "num_components": "50"}
KMEANS_BASE = {"feature_dim": "50", "k": "10"}


def test_pca_defaults() -> None:
    params = parse_pca_hyperparameters(PCA_BASE)
    assert params == PCAHyperparameters(feature_dim=784, mini_batch_size=500, num_components=50)
    assert (params.algorithm_mode, params.subtract_mean, params.extra_components) == ("regular", True, -1)


def test_kmeans_defaults_resolve_auto() -> None:
    params = parse_kmeans_hyperparameters(KMEANS_BASE)
    assert params.mini_batch_size == 5000 and params.epochs == 1
    assert params.init_method == "random" and params.local_lloyd_init_method == "kmeans++"
    assert params.extra_center_factor == 10 and params.local_lloyd_num_trials == 10
    assert params.num_streaming_centers == 100
    assert params.local_lloyd_max_iter == 300 and params.local_lloyd_tol == 0.0001
    assert params.half_life_time_size == 0 and params.eval_metrics == ("msd",) and params.force_dense


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("algorithm_mode", "randomized", "randomized"),
        ("subtract_mean", "False", False),
        ("subtract_mean", "true", True),
        ("subtract_mean", "TRUE", True),
        ("extra_components", "-1", -1),
        ("extra_components", "0", 0),
        ("extra_components", "7", 7),
        ("num_components", "1", 1),
    ],
)
def test_pca_valid_values(name: str, raw: str, expected: object) -> None:
    assert getattr(parse_pca_hyperparameters({**PCA_BASE, name: raw}), name) == expected


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("k", "2", 2),
        ("mini_batch_size", "1", 1),
        ("epochs", "3", 3),
        ("init_method", "kmeans++", "kmeans++"),
        ("extra_center_factor", "auto", 10),
        ("extra_center_factor", "4", 4),
        ("local_lloyd_init_method", "random", "random"),
        ("local_lloyd_max_iter", "5", 5),
        ("local_lloyd_num_trials", "auto", 10),
        ("local_lloyd_num_trials", "3", 3),
        ("local_lloyd_tol", "0", 0.0),
        ("local_lloyd_tol", "1", 1.0),
        ("local_lloyd_tol", "0.5", 0.5),
        ("half_life_time_size", "0", 0),
        ("half_life_time_size", "1000", 1000),
        ("eval_metrics", '["msd", "ssd"]', ("msd", "ssd")),
        ("eval_metrics", '["ssd"]', ("ssd",)),
        ("eval_metrics", '[\\"msd\\",\\"ssd\\"]', ("msd", "ssd")),  # as AWS's documentation spells it
        ("force_dense", "True", True),
        ("force_dense", "false", False),
    ],
)
def test_kmeans_valid_values(name: str, raw: str, expected: object) -> None:
    assert getattr(parse_kmeans_hyperparameters({**KMEANS_BASE, name: raw}), name) == expected


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("feature_dim", "0", "greater than 0"),
        ("feature_dim", "abc", "must be an integer"),
        ("feature_dim", "7.5", "must be an integer"),
        ("mini_batch_size", "-3", "greater than 0"),
        ("num_components", "", "must be an integer"),
        ("algorithm_mode", "fast", "regular, randomized"),
        ("subtract_mean", "yes", "true or false"),
        ("extra_components", "-2", "-1"),
        ("extra_components", "x", "-1"),
    ],
)
def test_pca_invalid_values_name_the_parameter(name: str, raw: str, reason: str) -> None:
    with pytest.raises(HyperparameterError) as caught:
        parse_pca_hyperparameters({**PCA_BASE, name: raw})
    assert caught.value.name == name
    assert reason in str(caught.value) and name in str(caught.value)


@pytest.mark.parametrize(
    ("name", "raw", "reason"),
    [
        ("k", "1", "at least 2"),
        ("k", "ten", "must be an integer"),
        ("feature_dim", "0", "greater than 0"),
        ("mini_batch_size", "0", "greater than 0"),
        ("epochs", "0", "greater than 0"),
        ("init_method", "kmeans||", "random, kmeans++"),
        ("extra_center_factor", "0", "'auto' or an integer > 0"),
        ("extra_center_factor", "Auto10", "'auto' or an integer > 0"),
        ("local_lloyd_init_method", "k-means++", "random, kmeans++"),
        ("local_lloyd_max_iter", "0", "greater than 0"),
        ("local_lloyd_num_trials", "-1", "'auto' or an integer > 0"),
        ("local_lloyd_tol", "1.5", "[0, 1]"),
        ("local_lloyd_tol", "-0.1", "[0, 1]"),
        ("local_lloyd_tol", "nan", "[0, 1]"),
        ("local_lloyd_tol", "small", "[0, 1]"),
        ("half_life_time_size", "-1", "at least 0"),
        ("eval_metrics", "msd", "JSON list"),
        ("eval_metrics", '["mse"]', "unknown metric"),
        ("eval_metrics", "[]", "non-empty"),
        ("eval_metrics", '"msd"', "non-empty JSON list"),
        ("force_dense", "1", "true or false"),
    ],
)
def test_kmeans_invalid_values_name_the_parameter(name: str, raw: str, reason: str) -> None:
    with pytest.raises(HyperparameterError) as caught:
        parse_kmeans_hyperparameters({**KMEANS_BASE, name: raw})
    assert caught.value.name == name
    assert reason in str(caught.value)


@pytest.mark.parametrize("missing", ["feature_dim", "mini_batch_size", "num_components"])
def test_pca_required(missing: str) -> None:
    raw = {name: value for name, value in PCA_BASE.items() if name != missing}
    with pytest.raises(HyperparameterError, match=f"'{missing}': is required"):
        parse_pca_hyperparameters(raw)


@pytest.mark.parametrize("missing", ["feature_dim", "k"])
def test_kmeans_required(missing: str) -> None:
    raw = {name: value for name, value in KMEANS_BASE.items() if name != missing}
    with pytest.raises(HyperparameterError, match=f"'{missing}': is required"):
        parse_kmeans_hyperparameters(raw)


@pytest.mark.parametrize(
    ("parse", "base", "unknown"),
    [
        (parse_kmeans_hyperparameters, KMEANS_BASE, "max_iterations"),  # an SDK name, not the container's
        (parse_kmeans_hyperparameters, KMEANS_BASE, "num_trials"),
        (parse_kmeans_hyperparameters, KMEANS_BASE, "tol"),
        (parse_pca_hyperparameters, PCA_BASE, "k"),
        (parse_pca_hyperparameters, PCA_BASE, "force_dense"),
    ],
)
def test_unknown_names_are_refused(parse, base, unknown: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HyperparameterError) as caught:
        parse({**base, unknown: "1"})
    assert caught.value.name == unknown and "not a hyperparameter" in str(caught.value)


def test_tuning_objective_metric_is_tolerated() -> None:
    params = parse_kmeans_hyperparameters({**KMEANS_BASE, "_tuning_objective_metric": "test:msd"})
    assert params == KMeansHyperparameters(feature_dim=50, k=10)


@pytest.mark.parametrize(("num_components", "extra", "sketch"), [(5, "-1", 15), (50, "-1", 100), (5, "3", 8)])
def test_sketch_size(num_components: int, extra: str, sketch: int) -> None:
    raw = {**PCA_BASE, "num_components": str(num_components), "extra_components": extra}
    assert parse_pca_hyperparameters(raw).sketch_size == sketch


def test_non_string_value_is_refused() -> None:
    with pytest.raises(HyperparameterError, match="string"):
        parse_kmeans_hyperparameters({**KMEANS_BASE, "k": 10})  # type: ignore[dict-item]
