from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clusterflow.artifacts.model import KMeansModel, load_model
from clusterflow.cli.engine import endpoint, train
from clusterflow.formats.recordio import write_recordio_dense

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def blobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three shards of 600 rows around 3 well separated centres, as recordio."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [20.0, 0.0, 0.0], [0.0, 20.0, 0.0]])
    X = (centres[rng.integers(0, 3, 600)] + rng.normal(size=(600, 3))).astype(np.float32)
    directory = tmp_path_factory.mktemp("blobs")
    for i, block in enumerate(np.array_split(X, 3)):
        write_recordio_dense(directory / f"matrix_{i}.pbr", block)
    (directory / ".manifest-hidden").write_text("ignored: hidden")
    return directory


def test_train_kmeans_from_a_directory(tmp_path: Path, blobs: Path) -> None:
    out = tmp_path / "model.tar.gz"
    args = [
        "--algorithm",
        "kmeans",
        "--train",
        str(blobs),
        "--test",
        str(blobs / "matrix_0.pbr"),
        "--out",
        str(out),
    ]
    args += ["--hyperparameters", "feature_dim=3", "k=3", 'eval_metrics=["msd","ssd"]', "-H", "epochs=2"]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 0, result.output
    assert "shrinking 30 centers into 3" in result.output
    assert "#quality_metric: host=algo-1, train msd <loss>=" in result.output
    assert "#quality_metric: host=algo-1, test ssd <loss>=" in result.output
    model = load_model(out, "kmeans")
    assert isinstance(model, KMeansModel)
    found = sorted(np.round(model.centroids[:, :2] / 20).astype(int).tolist())
    assert found == [[0, 0], [0, 1], [1, 0]]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--hyperparameters", "feature_dim=3", "k=1"], "hyperparameter 'k': must be at least 2"),
        (["--hyperparameters", "feature_dim=3", "k=2", "tol=0.1"], "'tol': is not a hyperparameter"),
        (
            ["--hyperparameters", "feature_dim=4", "k=2"],
            "matrix_0.pbr: record 1: 3 features, expected feature_dim 4",
        ),
        (["--hyperparameters", "feature_dim"], "must be written name=value"),
        (["--content-type", "text/libsvm", "-H", "feature_dim=3", "k=2"], "do not read libsvm"),
    ],
)
def test_train_bad_input_exits_2_with_the_reason(
    tmp_path: Path, blobs: Path, extra: list[str], fragment: str
) -> None:
    args = ["--algorithm", "kmeans", "--train", str(blobs), "--out", str(tmp_path / "m.tar.gz"), *extra]
    result = CliRunner().invoke(train, args)
    assert result.exit_code == 2
    assert fragment in result.output
    assert "Traceback" not in result.output


def test_train_missing_path_exits_2(tmp_path: Path) -> None:
    args = ["--algorithm", "pca", "--train", str(tmp_path / "none"), "--out", str(tmp_path / "m.tar.gz")]
    result = CliRunner().invoke(train, [*args, "-H", "feature_dim=3"])
    assert result.exit_code == 2 and "no such file or directory" in result.output


def test_endpoint_invoke_real_kmeans_artifact(sagemaker_fixtures: Path) -> None:
    model_path = sagemaker_fixtures / "kmeans-k10-d13-with-state-model.tar.gz"
    model = load_model(model_path, "kmeans")
    assert isinstance(model, KMeansModel)
    row = ",".join(str(v) for v in model.centroids[6].tolist())
    args = ["invoke", "--algorithm", "kmeans", "--model", str(model_path), "--content-type", "text/csv"]
    result = CliRunner().invoke(endpoint, [*args, "--accept", "text/csv"], input=row + "\n")
    assert result.exit_code == 0, result.output
    cluster, distance = result.output.strip().split(",")
    assert cluster == "6.0" and float(distance) < 1e-2


def test_endpoint_invoke_errors_exit_2(sagemaker_fixtures: Path, tmp_path: Path) -> None:
    model_path = sagemaker_fixtures / "pca-106x105-model.tar.gz"
    args = ["invoke", "--algorithm", "pca", "--model", str(model_path), "--content-type", "text/csv"]
    result = CliRunner().invoke(endpoint, args, input="1,2,3\n")
    assert result.exit_code == 2 and "3 values, expected 106" in result.output
    result = CliRunner().invoke(endpoint, [*args, "--accept", "text/csv"], input="1\n")
    assert result.exit_code == 2 and "Accept 'text/csv' is not supported" in result.output
    wrong = ["invoke", "--algorithm", "kmeans", "--model", str(model_path), "--content-type", "text/csv"]
    result = CliRunner().invoke(endpoint, wrong, input="1\n")
    assert result.exit_code == 2 and "pca" in result.output
    missing = [
        "invoke",
        "--algorithm",
        "kmeans",
        "--model",
        str(tmp_path / "x.tar.gz"),
        "--content-type",
        "text/csv",
    ]
    assert CliRunner().invoke(endpoint, missing, input="1\n").exit_code == 2


def test_installed_command_end_to_end(tmp_path: Path, sagemaker_fixtures: Path) -> None:
    """Through a real process: the `clusterflow` entry point, stdin body, stdout response, stderr error."""
    command = [sys.executable, "-c", "from clusterflow.cli import main; main()"]
    model_path = sagemaker_fixtures / "pca-106x105-model.tar.gz"
    invoke = [*command, "endpoint", "invoke", "--algorithm", "pca", "--model", str(model_path)]
    body = json.dumps({"instances": [{"features": [0.5] * 106}]}).encode()
    done = subprocess.run(
        [*invoke, "--content-type", "application/json"], input=body, capture_output=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr.decode()
    model = load_model(model_path, "pca")
    projection = json.loads(done.stdout)["projections"][0]["projection"]
    expected = (np.full((1, 106), 0.5) - model.mean.astype(np.float64)) @ model.v.astype(np.float64)  # type: ignore[union-attr]
    np.testing.assert_allclose(projection, expected[0], rtol=1e-4, atol=1e-4)
    failed = subprocess.run(
        [*invoke, "--content-type", "text/csv"], input=b"1,2\n", capture_output=True, cwd=REPO
    )
    assert failed.returncode == 2 and b"2 values, expected 106" in failed.stderr and not failed.stdout
    assert b"Traceback" not in failed.stderr
