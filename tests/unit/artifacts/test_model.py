"""model.tar.gz: the real SageMaker artifacts, our writer's exact bytes, and the models' arithmetic."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from clusterflow.artifacts import (
    KMeansModel,
    PCAModel,
    dumps_ndarray_list,
    load_kmeans_model,
    load_model,
    load_pca_model,
    loads_ndarray_list,
    read_model_member,
    write_model_tar,
)
from clusterflow.errors import ModelArtifactError

PCA_TAR = "pca-106x105-model.tar.gz"
KMEANS_TAR = "kmeans-k10-d13-with-state-model.tar.gz"


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_real_pca_artifact_loads_with_sagemakers_shapes(sagemaker_fixtures: Path) -> None:
    model = load_pca_model(sagemaker_fixtures / PCA_TAR)
    assert (model.feature_dim, model.num_components) == (106, 105)
    assert model.s.shape == (105,) and model.v.shape == (106, 105)
    assert model.mean is not None and model.mean.shape == (1, 106)
    assert int(np.isnan(model.s).sum()) == 3
    finite = model.s[~np.isnan(model.s)]
    assert np.all(np.diff(finite) >= 0), "singular values are stored ascending"
    gram = model.v.astype(np.float64).T @ model.v.astype(np.float64)
    np.testing.assert_allclose(gram, np.eye(105), atol=1e-4)


def test_real_kmeans_artifact_loads_past_its_state_member(sagemaker_fixtures: Path) -> None:
    path = sagemaker_fixtures / KMEANS_TAR
    with tarfile.open(path) as tar:
        assert tar.getnames()[0].startswith("state_")
    model = load_kmeans_model(path)
    assert (model.k, model.feature_dim) == (10, 13)
    assert model.centroids.dtype == np.float32


@pytest.mark.parametrize("name", [PCA_TAR, KMEANS_TAR])
def test_rewriting_real_arrays_reproduces_model_algo_1_exactly(sagemaker_fixtures: Path, name: str) -> None:
    original = read_model_member(sagemaker_fixtures / name)
    arrays, names = loads_ndarray_list(original)
    assert dumps_ndarray_list(arrays, names) == original


@pytest.mark.parametrize("name", [PCA_TAR, KMEANS_TAR])
def test_our_tarball_of_a_real_model_holds_the_same_member(sagemaker_fixtures: Path, name: str) -> None:
    model = load_model(sagemaker_fixtures / name)
    out = io.BytesIO()
    write_model_tar(out, model)
    assert read_model_member(out.getvalue()) == read_model_member(sagemaker_fixtures / name)


def test_auto_detection_and_algorithm_mismatch(sagemaker_fixtures: Path) -> None:
    assert isinstance(load_model(sagemaker_fixtures / PCA_TAR), PCAModel)
    assert isinstance(load_model((sagemaker_fixtures / KMEANS_TAR).read_bytes()), KMeansModel)
    with pytest.raises(ModelArtifactError, match="expected a kmeans model, the artifact holds pca"):
        load_model(sagemaker_fixtures / PCA_TAR, "kmeans")
    with pytest.raises(ModelArtifactError, match="expected a pca model, the artifact holds kmeans"):
        load_pca_model(sagemaker_fixtures / KMEANS_TAR)
    with pytest.raises(ModelArtifactError, match="unknown algorithm 'lda'"):
        load_model(sagemaker_fixtures / PCA_TAR, "lda")


def test_write_model_tar_is_deterministic_with_one_fixed_member(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    model = PCAModel(
        s=np.sort(rng.random(4).astype(np.float32)),
        v=rng.standard_normal((6, 4)).astype(np.float32),
        mean=rng.standard_normal((1, 6)).astype(np.float32),
    )
    write_model_tar(tmp_path / "a.tar.gz", model)
    buffer = io.BytesIO()
    write_model_tar(buffer, model)
    assert (tmp_path / "a.tar.gz").read_bytes() == buffer.getvalue()
    assert gzip.decompress(buffer.getvalue())[:12] == b"model_algo-1"
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        (member,) = tar.getmembers()
        got = (member.name, member.mtime, member.uid, member.gid, member.mode)
        assert got == ("model_algo-1", 0, 0, 0, 0o644)
    arrays, names = loads_ndarray_list(read_model_member(tmp_path / "a.tar.gz"))
    assert names == ["s", "v", "mean"]
    for got, want in zip(arrays, (model.s, model.v, model.mean), strict=True):
        assert got.tobytes() == np.asarray(want).tobytes()


def test_pca_without_mean_and_kmeans_round_trip_through_the_tarball() -> None:
    pca = PCAModel(s=np.array([1.0, 2.0], np.float32), v=np.eye(3, 2, dtype=np.float32), mean=None)
    buffer = io.BytesIO()
    write_model_tar(buffer, pca)
    arrays, names = loads_ndarray_list(read_model_member(buffer.getvalue()))
    assert names == ["s", "v"]
    back = load_pca_model(buffer.getvalue())
    assert back.mean is None and back.v.tobytes() == pca.v.tobytes()
    kmeans = KMeansModel(centroids=np.arange(6, dtype=np.float32).reshape(3, 2))
    buffer = io.BytesIO()
    write_model_tar(buffer, kmeans)
    member = read_model_member(buffer.getvalue())
    assert loads_ndarray_list(member)[1] is None and len(member) == 24 + 40 + 24 + 8
    assert load_kmeans_model(buffer.getvalue()).centroids.tobytes() == kmeans.centroids.tobytes()


def test_pca_project_subtracts_mean_then_multiplies_by_v() -> None:
    rng = np.random.default_rng(2)
    v, _ = np.linalg.qr(rng.standard_normal((5, 3)))
    mean = rng.standard_normal((1, 5)).astype(np.float32)
    model = PCAModel(s=np.arange(3, dtype=np.float32), v=v.astype(np.float32), mean=mean)
    X = rng.standard_normal((7, 5)).astype(np.float32)
    got = model.project(X)
    assert got.dtype == np.float32 and got.shape == (7, 3)
    np.testing.assert_allclose(got, (X.astype(np.float64) - mean) @ v, rtol=1e-5, atol=1e-5)
    no_mean = PCAModel(s=model.s, v=model.v, mean=None)
    np.testing.assert_allclose(no_mean.project(X), X @ model.v, rtol=1e-6)


def test_kmeans_assign_returns_closest_centre_and_unsquared_distance() -> None:
    model = KMeansModel(centroids=np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], np.float32))
    X = np.array([[3.0, 4.0], [9.0, 0.0], [1.0, 12.0], [0.0, 0.0]], np.float32)
    closest, distance = model.assign(X)
    assert closest.tolist() == [0, 1, 2, 0]
    np.testing.assert_allclose(distance, [5.0, 1.0, np.sqrt(5.0), 0.0], rtol=1e-6)


def test_kmeans_assign_matches_brute_force_on_random_data() -> None:
    rng = np.random.default_rng(3)
    centroids = rng.standard_normal((10, 13)).astype(np.float32)
    X = rng.standard_normal((500, 13)).astype(np.float32)
    closest, distance = KMeansModel(centroids=centroids).assign(X)
    brute = np.linalg.norm(X[:, None, :].astype(np.float64) - centroids[None, :, :], axis=2)
    assert closest.tolist() == brute.argmin(axis=1).tolist()
    np.testing.assert_allclose(distance, brute.min(axis=1), rtol=1e-5, atol=1e-6)


def test_inconsistent_model_shapes_are_refused() -> None:
    with pytest.raises(ModelArtifactError, match="PCA s has shape"):
        PCAModel(s=np.ones(2, np.float32), v=np.ones((4, 3), np.float32))
    with pytest.raises(ModelArtifactError, match="PCA mean has shape"):
        PCAModel(s=np.ones(3, np.float32), v=np.ones((4, 3), np.float32), mean=np.ones((1, 5), np.float32))


def test_missing_member_and_non_tarball_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match=r"no member 'model_algo-1' in the archive \(state_x\)"):
        read_model_member(_tar_gz({"state_x": b"123"}))
    bogus = tmp_path / "model.tar.gz"
    bogus.write_bytes(b"this is not gzip")
    with pytest.raises(ModelArtifactError, match=r"model\.tar\.gz: not a readable model\.tar\.gz"):
        read_model_member(bogus)
    with pytest.raises(ModelArtifactError, match="cannot read model artifact"):
        read_model_member(tmp_path / "absent.tar.gz")
    truncated = _tar_gz({"model_algo-1": b"x" * 5000})[:40]
    with pytest.raises(ModelArtifactError, match="not a readable"):
        read_model_member(truncated)


def test_member_that_is_not_an_ndarray_list_is_refused() -> None:
    with pytest.raises(ModelArtifactError, match="not an MXNet NDArray list"):
        load_model(_tar_gz({"model_algo-1": b"garbage" * 10}))
    with pytest.raises(ModelArtifactError, match="neither a PCA"):
        load_model(_tar_gz({"model_algo-1": dumps_ndarray_list([np.ones(3, np.float32)])}))
