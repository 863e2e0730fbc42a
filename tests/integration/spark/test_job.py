"""spark_jobs/project.py end to end on local paths, in-process with a session it did not create."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from clusterflow.spark.arguments import JobArgumentError

# One xdist group: under `--dist loadgroup` every Spark test runs in one worker, on one JVM.
pytestmark = [
    pytest.mark.spark,
    pytest.mark.xdist_group("spark"),
    pytest.mark.filterwarnings("ignore:distutils Version classes:DeprecationWarning"),
]


@pytest.fixture(scope="module")
def job(repo_root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "clusterflow_spark_job", repo_root / "spark_jobs" / "project.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prepare_then_project_on_gzip_input(
    job: ModuleType, spark: Any, tmp_path: Path, kit: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    data = kit.make_dataset(30, seed=11)
    libsvm, model_tar = kit.write_inputs(tmp_path / "in", data, gz=True)
    glue = ["project.py", "--JOB_NAME", "clusterflow-spark", "--job-bookmark-option", "job-bookmark-disable"]
    common = ["--input_uri", str(libsvm), "--num_features", str(kit.feature_dim)]

    job.main([*glue, "--mode", "prepare", *common, "--output_uri", str(tmp_path / "pca-train")])
    assert "mode=prepare rows=30 shards=1 " in capsys.readouterr().out
    X, labels = kit.read_shards(tmp_path / "pca-train", kit.feature_dim)
    np.testing.assert_array_equal(X, data.X)  # one gzip partition keeps the input order
    np.testing.assert_array_equal(labels, data.labels)

    job.main(
        [
            *glue,
            "--mode=project",
            *common,
            f"--output_uri=file://{tmp_path / 'kmeans-train'}",
            f"--pca_model_uri={model_tar}",
            f"--projections_uri={tmp_path / 'projections'}",
        ]
    )
    assert "mode=project rows=30 shards=1 " in capsys.readouterr().out
    P, _ = kit.read_shards(tmp_path / "kmeans-train", kit.num_components)
    np.testing.assert_allclose(P, data.model.project(data.X), rtol=1e-5, atol=1e-3)
    assert pq.read_table(tmp_path / "projections").num_rows == 30
    # The session belonged to the caller: still usable.
    assert spark.range(3).count() == 3


def test_model_of_other_width_is_refused(
    job: ModuleType, spark: Any, tmp_path: Path, kit: SimpleNamespace
) -> None:
    from clusterflow.errors import ModelArtifactError

    data = kit.make_dataset(5)
    libsvm, model_tar = kit.write_inputs(tmp_path, data)
    argv = ["project.py", "--mode", "project", "--input_uri", str(libsvm), "--num_features", "20",
            "--output_uri", str(tmp_path / "o"), "--pca_model_uri", str(model_tar),
            "--projections_uri", str(tmp_path / "p")]  # fmt: skip
    with pytest.raises(ModelArtifactError, match="feature_dim 12, but --num_features is 20"):
        job.main(argv)


def test_bad_arguments_fail_before_spark_work(job: ModuleType) -> None:
    with pytest.raises(JobArgumentError, match="--output_uri"):
        job.main(["project.py", "--mode", "prepare", "--input_uri", "x", "--num_features", "3"])


def test_project_through_the_endpoint_with_an_injected_client(
    job: ModuleType, spark: Any, tmp_path: Path, kit: SimpleNamespace
) -> None:
    data = kit.make_dataset(12, seed=3)
    libsvm, _ = kit.write_inputs(tmp_path, data)
    model = data.model

    def runtime_factory(region: str) -> Any:
        class Runtime:
            def invoke_endpoint(self, EndpointName: str, Body: bytes, **_: Any) -> dict[str, Any]:  # noqa: N803
                rows = np.loadtxt(io.BytesIO(Body), delimiter=",", ndmin=2, dtype=np.float32)
                answer = {"projections": [{"projection": p.tolist()} for p in model.project(rows)]}
                return {"Body": io.BytesIO(json.dumps(answer).encode())}

        return Runtime()

    argv = ["project.py", "--mode", "project", "--input_uri", str(libsvm), "--num_features", "12",
            "--output_uri", str(tmp_path / "km"), "--projections_uri", str(tmp_path / "projections"),
            "--projection_engine", "endpoint", "--pca_endpoint_name", "cf-pca", "--region", "us-east-1",
            "--endpoint_batch_size", "5"]  # fmt: skip
    job.main(argv, client_factory=runtime_factory)
    P, labels = kit.read_shards(tmp_path / "km", kit.num_components)
    got = kit.sort_rows(P, labels)
    want = kit.sort_rows(model.project(data.X), data.labels)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(got[1], want[1])
