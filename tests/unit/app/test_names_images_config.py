from __future__ import annotations

import pytest

from clusterflow.app.config import EndpointPolicy, RunParameters, settings_from
from clusterflow.app.faults import ConfigurationError
from clusterflow.app.images import REGISTRY_ACCOUNTS, image_uri
from clusterflow.app.names import (
    is_valid_execution_name,
    is_valid_sagemaker_name,
    run_id_for_object,
    run_names,
)


def test_run_id_is_deterministic_and_changes_with_version() -> None:
    first = run_id_for_object("bucket", "incoming/train.libsvm", "v1")
    assert first == run_id_for_object("bucket", "incoming/train.libsvm", "v1")
    assert first != run_id_for_object("bucket", "incoming/train.libsvm", "v2")
    assert first != run_id_for_object("other", "incoming/train.libsvm", "v1")
    assert first.startswith("train-")


@pytest.mark.parametrize(
    "key",
    [
        "incoming/" + "x" * 300 + ".libsvm.gz",
        "incoming/a b+c(1).libsvm",
        "incoming/ü漢字.libsvm",
        "incoming/.libsvm",
    ],
)
def test_names_fit_execution_and_sagemaker_limits(key: str) -> None:
    run_id = run_id_for_object("bucket", key, "version")
    assert is_valid_execution_name(run_id) and len(run_id) <= 80
    for prefix in ("clusterflow", "a", "p" * 20):
        names = run_names(run_id, prefix)
        for name in names.sagemaker_names():
            assert len(name) <= 63, name
            assert is_valid_sagemaker_name(name), name
            assert name.startswith(f"{prefix}-")


def test_names_of_two_runs_never_collide_even_when_truncated() -> None:
    a = run_names("r" * 70 + "-a")
    b = run_names("r" * 70 + "-b")
    assert set(a.sagemaker_names()).isdisjoint(b.sagemaker_names())


def test_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="resource prefix"):
        run_names("run", "Bad_Prefix")


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("us-east-1", "382416733822.dkr.ecr.us-east-1.amazonaws.com/pca:1"),
        ("eu-west-1", "438346466558.dkr.ecr.eu-west-1.amazonaws.com/pca:1"),
        ("cn-north-1", "390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/pca:1"),
        ("us-gov-west-1", "226302683700.dkr.ecr.us-gov-west-1.amazonaws.com/pca:1"),
    ],
)
def test_image_uri_per_region(region: str, expected: str) -> None:
    assert image_uri("pca", region) == expected
    assert image_uri("kmeans", region) == expected.replace("/pca:1", "/kmeans:1")


def test_image_table_has_every_reference_region_and_unknown_is_an_error() -> None:
    assert len(REGISTRY_ACCOUNTS) == 33
    with pytest.raises(ConfigurationError, match="mars-east-1"):
        image_uri("pca", "mars-east-1")


def test_settings_are_validated_with_the_variable_named() -> None:
    with pytest.raises(ConfigurationError, match="ENDPOINT_POLICY"):
        settings_from({"ENDPOINT_POLICY": "SOMETIMES"})
    with pytest.raises(ConfigurationError, match="K"):
        settings_from({"K": "1"})
    assert settings_from({"ENDPOINT_POLICY": "DO_NOT_CREATE"}).endpoint_policy is EndpointPolicy.DO_NOT_CREATE


def test_run_parameters_take_defaults_and_refuse_unknown_or_inconsistent_values() -> None:
    defaults = settings_from({"K": "7"})
    params = RunParameters.resolve({"num_components": 20}, defaults)
    assert (params.k, params.num_components, params.feature_dim) == (7, 20, 784)
    with pytest.raises(ConfigurationError, match="colour"):
        RunParameters.resolve({"colour": "blue"}, defaults)
    with pytest.raises(ConfigurationError, match="exceeds feature_dim"):
        RunParameters.resolve({"num_components": 900}, defaults)


def test_require_names_the_missing_variable() -> None:
    with pytest.raises(ConfigurationError, match="STATE_MACHINE_ARN"):
        settings_from({}).require("state_machine_arn")
