"""The run report: scores, confusion table, cluster grid PNG and the self-contained HTML page."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from clusterflow.local.report import (
    RunMetrics,
    StateTiming,
    clustering_scores,
    confusion_matrix,
    render_html,
    write_report,
)


def test_perfect_clustering_scores_one_even_with_renamed_clusters() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    clusters = np.array([2, 2, 0, 0, 1, 1])
    scores = clustering_scores(labels, clusters)
    assert scores.nmi == pytest.approx(1.0)
    assert scores.ari == pytest.approx(1.0)
    assert scores.purity == pytest.approx(1.0)


def test_purity_counts_the_majority_label_of_each_cluster() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])
    clusters = np.array([0, 0, 0, 1, 1, 1])
    # cluster 0 majority label 0 (2 of 3); cluster 1 majority label 1 (2 of 3)
    assert clustering_scores(labels, clusters).purity == pytest.approx(4 / 6)


def test_single_cluster_has_no_information() -> None:
    scores = clustering_scores(np.array([0, 1, 2, 3]), np.zeros(4, dtype=int))
    assert scores.nmi == pytest.approx(0.0)
    assert scores.ari == pytest.approx(0.0)


def test_scores_refuse_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="as many labels"):
        clustering_scores(np.array([0, 1]), np.array([0]))


def test_confusion_rows_are_clusters_and_columns_labels() -> None:
    table = confusion_matrix(np.array([3, 3, 1]), np.array([0, 0, 2]), k=4)
    assert table.shape == (4, 4)
    assert table[0, 3] == 2
    assert table[2, 1] == 1
    assert table.sum() == 3


def _digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, size=(n, 784)).astype(np.float32), rng.integers(0, 10, size=n)


def test_write_report_writes_metrics_png_and_self_contained_html(tmp_path: Path) -> None:
    images, labels = _digits(40)
    clusters = labels % 3
    metrics = RunMetrics(
        execution_status="SUCCEEDED",
        run_id="run-abc",
        n_train=100,
        n_test=40,
        nmi=0.5,
        states=[StateTiming("ValidateInput", 0.25), StateTiming("TrainPCA", 3.5)],
        k=3,
    )
    written = write_report(tmp_path, metrics, images, labels, clusters)

    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["execution_status"] == "SUCCEEDED"
    assert data["states"] == [
        {"name": "ValidateInput", "seconds": 0.25, "status": "succeeded", "visits": 1},
        {"name": "TrainPCA", "seconds": 3.5, "status": "succeeded", "visits": 1},
    ]
    assert data["leaked_resources"] == []
    assert "error" not in data

    png = written["clusters"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    page = written["html"].read_text()
    assert base64.b64encode(png).decode() in page
    assert "TrainPCA" in page and "run-abc" in page
    # no network: no external resources of any kind
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    # confusion table: one row per cluster
    assert page.count('<tr><th class="name">') >= 3


def test_failed_run_report_has_error_and_no_grid(tmp_path: Path) -> None:
    metrics = RunMetrics(execution_status="FAILED", run_id="r1", error="States.TaskFailed: boom")
    written = write_report(tmp_path, metrics)
    data = json.loads(written["metrics"].read_text())
    assert data["error"] == "States.TaskFailed: boom"
    assert data["nmi"] is None
    assert "clusters" not in written
    assert "States.TaskFailed: boom" in written["html"].read_text()


def test_html_escapes_error_text() -> None:
    page = render_html(
        RunMetrics(execution_status="FAILED", run_id="r", error="<script>x</script>"), None, None
    )
    assert "<script>x" not in page
    assert "&lt;script&gt;x" in page
