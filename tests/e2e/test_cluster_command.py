"""`clusterflow cluster --model-dir`: the clustering Lambda's parsing and artifact code on a run's models."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from clusterflow.artifacts.model import KMeansModel, PCAModel, write_model_tar
from clusterflow.cli import cli


@pytest.fixture
def model_dir(tmp_path: Path) -> tuple[Path, PCAModel, KMeansModel]:
    rng = np.random.default_rng(3)
    v, _ = np.linalg.qr(rng.normal(size=(784, 4)))
    pca = PCAModel(
        s=np.arange(1, 5, dtype=np.float32),
        v=v.astype(np.float32),
        mean=rng.uniform(0, 50, size=(1, 784)).astype(np.float32),
    )
    kmeans = KMeansModel(centroids=rng.normal(scale=300, size=(5, 4)).astype(np.float32))
    for name, model in (("pca", pca), ("kmeans", kmeans)):
        (tmp_path / name).mkdir()
        write_model_tar(tmp_path / name / "model.tar.gz", model)
    return tmp_path, pca, kmeans


def _clusters(stdout: str) -> list[int]:
    return [int(line.split("cluster ")[1].split()[0]) for line in stdout.strip().splitlines()]


def test_pixels_csv_rows_get_the_models_clusters(
    model_dir: tuple[Path, PCAModel, KMeansModel], tmp_path: Path
) -> None:
    folder, pca, kmeans = model_dir
    X = np.random.default_rng(5).integers(0, 256, size=(7, 784)).astype(np.float32)
    csv_path = tmp_path / "pixels.csv"
    csv_path.write_text("\n".join(",".join(str(int(v)) for v in row) for row in X) + "\n")
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["cluster", "--model-dir", str(folder), "--pixels", str(csv_path)]
    )
    assert result.exit_code == 0, result.stderr
    assert _clusters(result.stdout) == kmeans.assign(pca.project(X))[0].tolist()
    assert "pixels.csv row 7" in result.stdout


def test_png_image_gets_its_cluster(model_dir: tuple[Path, PCAModel, KMeansModel], tmp_path: Path) -> None:
    folder, pca, kmeans = model_dir
    pixels = np.random.default_rng(9).integers(0, 256, size=(28, 28)).astype(np.uint8)
    png = tmp_path / "digit.png"
    Image.fromarray(pixels, mode="L").save(png)
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["cluster", "--model-dir", str(folder), "--png", str(png)]
    )
    assert result.exit_code == 0, result.stderr
    expected = kmeans.assign(pca.project(pixels.reshape(1, -1).astype(np.float32)))[0]
    assert _clusters(result.stdout) == expected.tolist()


def test_wrong_size_png_is_refused_with_the_reason(
    model_dir: tuple[Path, PCAModel, KMeansModel], tmp_path: Path
) -> None:
    folder, _, _ = model_dir
    buffer = io.BytesIO()
    Image.new("L", (30, 30)).save(buffer, format="PNG")
    png = tmp_path / "big.png"
    png.write_bytes(buffer.getvalue())
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["cluster", "--model-dir", str(folder), "--png", str(png)]
    )
    assert result.exit_code == 2
    assert "30x30" in result.stderr and "28x28" in result.stderr


def test_short_csv_row_names_its_line(model_dir: tuple[Path, PCAModel, KMeansModel], tmp_path: Path) -> None:
    folder, _, _ = model_dir
    csv_path = tmp_path / "short.csv"
    csv_path.write_text(",".join(["0"] * 784) + "\n" + ",".join(["0"] * 783) + "\n")
    result = CliRunner(mix_stderr=False).invoke(
        cli, ["cluster", "--model-dir", str(folder), "--pixels", str(csv_path)]
    )
    assert result.exit_code == 2
    assert "line 2" in result.stderr and "783" in result.stderr


def test_missing_models_and_missing_input_are_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner(mix_stderr=False)
    no_input = runner.invoke(cli, ["cluster", "--model-dir", str(tmp_path)])
    assert no_input.exit_code == 2 and "--png" in no_input.stderr
    csv_path = tmp_path / "p.csv"
    csv_path.write_text(",".join(["0"] * 784) + "\n")
    no_models = runner.invoke(cli, ["cluster", "--model-dir", str(tmp_path), "--pixels", str(csv_path)])
    assert no_models.exit_code == 2 and "pca/model.tar.gz" in no_models.stderr
