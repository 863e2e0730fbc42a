"""The transforms on local Spark with tiny data: densify, project (artifact and endpoint), shards, Parquet."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clusterflow.errors import DataFormatError
from clusterflow.spark import transforms
from clusterflow.spark.arguments import JobArguments
from clusterflow.spark.pipeline import run_prepare, run_project

# One xdist group: under `--dist loadgroup` every Spark test runs in one worker, on one JVM.
pytestmark = [
    pytest.mark.spark,
    pytest.mark.xdist_group("spark"),
    pytest.mark.filterwarnings("ignore:distutils Version classes:DeprecationWarning"),
]


def _dense(spark: Any, path: Path, dim: int) -> Any:
    return transforms.to_dense(transforms.read_libsvm(spark, str(path), dim))


def _collect_projected(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = frame.collect()
    return (
        np.array([row["projection"] for row in rows], dtype=np.float32),
        np.array([row["label"] for row in rows], dtype=np.float64),
    )


def test_batch_helpers_round_trip_without_spark() -> None:
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3)
    batch = transforms.projected_batch(np.array([1.0, 2.0, 3.0, 4.0]), matrix)
    assert batch.schema.field("projection").type == pa.list_(pa.float32())
    np.testing.assert_array_equal(transforms.batch_matrix(batch, "projection"), matrix)
    np.testing.assert_array_equal(transforms.batch_labels(batch), [1.0, 2.0, 3.0, 4.0])
    # A slice keeps its own rows, not the parent's first rows.
    np.testing.assert_array_equal(transforms.batch_matrix(batch.slice(2, 2), "projection"), matrix[2:])


def test_ragged_rows_are_refused_without_spark() -> None:
    ragged = pa.RecordBatch.from_pydict(
        {"label": [0.0, 1.0], "features": pa.array([[1.0, 2.0], [3.0]], type=pa.list_(pa.float32()))}
    )
    with pytest.raises(DataFormatError, match="rows of different lengths"):
        transforms.batch_matrix(ragged, "features")


def test_to_dense_gives_label_and_float_array(
    spark: Any, tmp_path: Path, dataset: Any, kit: SimpleNamespace
) -> None:
    libsvm, _ = kit.write_inputs(tmp_path, dataset)
    dense = _dense(spark, libsvm, kit.feature_dim)
    assert dense.schema.simpleString() == "struct<label:double,features:array<float>>"
    rows = dense.collect()
    X = np.array([row["features"] for row in rows], dtype=np.float32)
    labels = np.array([row["label"] for row in rows])
    got = kit.sort_rows(X, labels)
    want = kit.sort_rows(dataset.X, dataset.labels)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_project_with_model_equals_numpy(
    spark: Any, tmp_path: Path, dataset: Any, kit: SimpleNamespace
) -> None:
    libsvm, _ = kit.write_inputs(tmp_path, dataset)
    projected = transforms.project_with_model(_dense(spark, libsvm, kit.feature_dim), dataset.model)
    assert projected.schema.simpleString() == "struct<label:double,projection:array<float>>"
    P, labels = _collect_projected(projected)
    mean, v = dataset.model.mean.astype(np.float64), dataset.model.v.astype(np.float64)
    expected = (dataset.X.astype(np.float64) - mean) @ v
    got = kit.sort_rows(P, labels)
    want = kit.sort_rows(expected.astype(np.float32), dataset.labels)
    # Rows sorted by the projection itself; compare with a relative tolerance on pixel-scale values.
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_array_equal(got[1], want[1])


def _stub_runtime_factory(model: Any, seen: list[int]) -> Any:
    """A sagemaker-runtime stand-in answering as the PCA endpoint does (REFERENCE section 4)."""

    class StubRuntime:
        def invoke_endpoint(self, **request: Any) -> dict[str, Any]:
            assert request["EndpointName"] == "cf-run-pca"
            assert request["ContentType"] == "text/csv"
            assert request["Accept"] == "application/json"
            rows = np.loadtxt(io.BytesIO(request["Body"]), delimiter=",", ndmin=2, dtype=np.float32)
            seen.append(len(rows))
            answer = {"projections": [{"projection": p.tolist()} for p in model.project(rows)]}
            return {"Body": io.BytesIO(json.dumps(answer).encode())}

    def factory(region: str) -> StubRuntime:
        assert region == "eu-west-1"
        return StubRuntime()

    return factory


def test_project_with_endpoint_matches_artifact(
    spark: Any, tmp_path: Path, dataset: Any, kit: SimpleNamespace
) -> None:
    libsvm, _ = kit.write_inputs(tmp_path, dataset)
    dense = _dense(spark, libsvm, kit.feature_dim)
    via_endpoint = transforms.project_with_endpoint(
        dense,
        "cf-run-pca",
        "eu-west-1",
        batch_size=7,
        client_factory=_stub_runtime_factory(dataset.model, []),
    )
    P_endpoint, labels_endpoint = _collect_projected(via_endpoint)
    P_artifact, labels_artifact = _collect_projected(transforms.project_with_model(dense, dataset.model))
    got = kit.sort_rows(P_endpoint, labels_endpoint)
    want = kit.sort_rows(P_artifact, labels_artifact)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-3)
    np.testing.assert_array_equal(got[1], want[1])


def test_endpoint_requests_are_batched() -> None:
    seen: list[int] = []
    model = SimpleNamespace(project=lambda rows: rows[:, :2])
    client = _stub_runtime_factory(model, seen)("eu-west-1")
    rows = np.arange(30, dtype=np.float32).reshape(10, 3)
    P = transforms.invoke_projection(client, "cf-run-pca", rows[:4])
    np.testing.assert_array_equal(P, rows[:4, :2])
    assert seen == [4]


def test_wrong_endpoint_answer_is_named() -> None:
    with pytest.raises(transforms.EndpointProjectionError, match="endpoint cf-run-pca: sent 3 rows, got 2"):
        transforms.parse_projections(
            b'{"projections":[{"projection":[1]},{"projection":[2]}]}', 3, "cf-run-pca"
        )
    with pytest.raises(transforms.EndpointProjectionError, match="answer is not"):
        transforms.parse_projections(b'{"predictions":[]}', 1, "cf-run-pca")


def test_prepare_round_trip(spark: Any, tmp_path: Path, dataset: Any, kit: SimpleNamespace) -> None:
    libsvm, _ = kit.write_inputs(tmp_path, dataset)
    out = tmp_path / "staging"
    (out).mkdir()
    (out / "part-00009.pbr").write_bytes(b"left by an earlier attempt")
    args = JobArguments(
        mode="prepare", input_uri=str(libsvm), num_features=kit.feature_dim, output_uri=str(out), num_shards=3
    )
    summary = run_prepare(spark, args)
    assert summary.rows == len(dataset.X)
    assert summary.shards == ["part-00000.pbr", "part-00001.pbr", "part-00002.pbr"]
    assert sorted(p.name for p in out.iterdir()) == summary.shards
    X, labels = kit.read_shards(out, kit.feature_dim)
    got = kit.sort_rows(X, labels.astype(np.float64))
    want = kit.sort_rows(dataset.X, dataset.labels)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_project_writes_shards_and_parquet(
    spark: Any, tmp_path: Path, dataset: Any, kit: SimpleNamespace
) -> None:
    libsvm, model_tar = kit.write_inputs(tmp_path, dataset)
    args = JobArguments(
        mode="project",
        input_uri=str(libsvm),
        num_features=kit.feature_dim,
        output_uri=str(tmp_path / "kmeans-train"),
        pca_model_uri=str(model_tar),
        projections_uri=str(tmp_path / "projections"),
    )
    summary = run_project(spark, args)
    assert summary.rows == len(dataset.X)
    expected = dataset.model.project(dataset.X)
    X, labels = kit.read_shards(tmp_path / "kmeans-train", kit.num_components)
    got = kit.sort_rows(X, labels.astype(np.float64))
    want = kit.sort_rows(expected, dataset.labels)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-3)

    table = pq.read_table(tmp_path / "projections")
    assert table.schema.field("label").type == pa.float64()
    assert table.schema.field("projection").type.value_type == pa.float32()
    assert table.num_rows == len(dataset.X)
    P = np.array(table.column("projection").to_pylist(), dtype=np.float32)
    got = kit.sort_rows(P, table.column("label").to_numpy())
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(got[1], want[1])


def test_malformed_libsvm_names_file_and_line(spark: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.libsvm"
    bad.write_text("1 1:0.5 3:2\n0 2:1\n2 5:1 3:2\n")
    args = JobArguments(mode="prepare", input_uri=str(bad), num_features=12, output_uri=str(tmp_path / "out"))
    with pytest.raises(DataFormatError) as caught:
        run_prepare(spark, args)
    assert (
        str(caught.value)
        == f"{bad}, line 3: indices not strictly ascending: 3 after 5 (indices must be strictly ascending)"
    )


def test_feature_index_beyond_num_features_is_named(spark: Any, tmp_path: Path) -> None:
    bad = tmp_path / "wide.libsvm"
    bad.write_text("1 1:0.5 13:2\n")
    args = JobArguments(mode="prepare", input_uri=str(bad), num_features=12, output_uri=str(tmp_path / "out"))
    with pytest.raises(DataFormatError, match="line 1: index 13 > num_features 12"):
        run_prepare(spark, args)


def test_empty_partitions_write_no_shard(spark: Any, tmp_path: Path, kit: SimpleNamespace) -> None:
    data = kit.make_dataset(3, seed=5)
    libsvm, _ = kit.write_inputs(tmp_path, data)
    out = tmp_path / "staging"
    args = JobArguments(
        mode="prepare", input_uri=str(libsvm), num_features=kit.feature_dim, output_uri=str(out), num_shards=6
    )
    summary = run_prepare(spark, args)
    assert summary.rows == 3
    assert len(summary.shards) == 3  # six partitions, three of them empty
    assert sorted(p.name for p in out.iterdir()) == summary.shards
    assert all(p.stat().st_size > 0 for p in out.iterdir())


def test_empty_input_is_refused(spark: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.libsvm"
    empty.write_text("")
    args = JobArguments(
        mode="prepare", input_uri=str(empty), num_features=12, output_uri=str(tmp_path / "out")
    )
    with pytest.raises(DataFormatError, match=f"{empty}: no rows"):
        run_prepare(spark, args)
