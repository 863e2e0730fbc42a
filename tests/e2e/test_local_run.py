"""`clusterflow local run` end to end on real MNIST digits, engines on: the report, the models, no leaks."""

from __future__ import annotations

import base64
import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from clusterflow.artifacts.model import load_kmeans_model, load_pca_model
from clusterflow.cli import cli

from .conftest import SmallMnist, asl_task_states, read_metrics

pytestmark = [pytest.mark.spark, pytest.mark.slow]

K = 10
COMPONENTS = 10


@pytest.fixture(scope="module")
def happy_run(small_mnist: SmallMnist, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("happy") / "report"
    args = ["local", "run", "--train", str(small_mnist.train), "--test", str(small_mnist.test)]
    args += ["--k", str(K), "--components", str(COMPONENTS), "--out", str(out)]
    result = CliRunner(mix_stderr=False).invoke(cli, args, catch_exceptions=False)
    return out, result


def test_happy_path_exits_0_with_scores_and_nothing_left(
    happy_run: tuple[Path, object], small_mnist: SmallMnist
) -> None:
    out, result = happy_run
    assert result.exit_code == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    metrics = read_metrics(out)
    assert metrics["execution_status"] == "SUCCEEDED"
    assert metrics["leaked_resources"] == []
    assert "error" not in metrics
    assert metrics["training_jobs_started"] == 2
    assert (metrics["n_train"], metrics["n_test"]) == (small_mnist.n_train, small_mnist.n_test)
    # 200 real test digits, 10 components: well above chance (NMI of random labels is ~0.05 here)
    assert metrics["nmi"] > 0.3
    assert 0 < metrics["ari"] <= 1 and 0.1 < metrics["purity"] <= 1
    assert metrics["train_msd"] > 0 and metrics["test_msd"] > 0


def test_happy_path_times_every_state_it_ran(happy_run: tuple[Path, object]) -> None:
    out, _ = happy_run
    states = {row["name"]: row for row in read_metrics(out)["states"]}
    assert "Validate the input object" in states
    assert "Run succeeded" in states
    assert all(row["status"] != "failed" for row in states.values())
    assert all(row["seconds"] >= 0 for row in states.values())
    # the Task states the default policy runs, named exactly as in the ASL
    assert {"Start PCA training", "Start K-Means training", "Record the results"} <= set(states)
    assert set(states) & set(asl_task_states())


def test_happy_path_shows_states_and_keeps_logs_off_the_terminal(happy_run: tuple[Path, object]) -> None:
    out, result = happy_run
    stdout = result.stdout  # type: ignore[attr-defined]
    assert "Validate the input object" in stdout
    assert "NMI" in stdout
    assert "WARN" not in stdout and "Traceback" not in stdout
    assert (out / "local-cloud.log").stat().st_size > 0


def test_models_are_sagemaker_artifacts_of_the_asked_shape(happy_run: tuple[Path, object]) -> None:
    out, _ = happy_run
    pca = load_pca_model(out / "pca" / "model.tar.gz")
    kmeans = load_kmeans_model(out / "kmeans" / "model.tar.gz")
    assert (pca.feature_dim, pca.num_components) == (784, COMPONENTS)
    assert (kmeans.k, kmeans.feature_dim) == (K, COMPONENTS)


def test_report_files_are_readable_and_self_contained(happy_run: tuple[Path, object]) -> None:
    out, _ = happy_run
    png = (out / "clusters.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    page = (out / "report.html").read_text()
    assert base64.b64encode(png).decode() in page
    assert "http://" not in page and "https://" not in page
    assert "Validate the input object" in page


def test_cluster_command_uses_the_models_the_run_left(
    happy_run: tuple[Path, object], small_mnist: SmallMnist, tmp_path: Path
) -> None:
    from clusterflow.formats.libsvm import read_libsvm

    out, _ = happy_run
    labels, X = read_libsvm(small_mnist.test, num_features=784)
    pixels = tmp_path / "pixels.csv"
    with pixels.open("w", newline="") as handle:
        csv.writer(handle).writerows(X[:3].astype(int).tolist())
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["cluster", "--model-dir", str(out), "--pixels", str(pixels)]
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    expected = load_kmeans_model(out / "kmeans" / "model.tar.gz").assign(
        load_pca_model(out / "pca" / "model.tar.gz").project(X[:3].astype(int).astype(np.float32))
    )[0]
    assert [int(line.split("cluster ")[1].split()[0]) for line in lines] == expected.tolist()
