"""The benchmark harness's own logic: medians, ratios, targets, the scaled data set, process-tree memory."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_svmlight_file

from bench.pipelines import summarise, training_jobs_seconds
from bench.proctree import run_measured
from bench.scale import copy_prefix, curve_sizes, marginal_time_ratio
from bench.scaled import write_scaled_libsvm
from bench.stats import median, percentile, ratio_table, rotated
from bench.targets import judge


def test_median_of_odd_and_even_counts_ignores_missing_values() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, None, 3.0, 2.0]) == 2.5
    assert median([None, float("nan")]) is None


@pytest.mark.parametrize("q", [0, 50, 90, 99, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = [0.3, 7.0, 1.5, 2.25, 9.0, 4.0, 0.1]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_ratio_table_divides_subject_by_each_baseline_and_marks_missing() -> None:
    medians = {
        "clusterflow": {"wall_s": 10.0, "test_nmi": 0.5},
        "spark": {"wall_s": 40.0, "test_nmi": 0.5},
        "sklearn": {"wall_s": 5.0},
    }
    table = ratio_table(medians, "clusterflow", ["spark", "sklearn"])
    assert table["spark"] == {"wall_s": 0.25, "test_nmi": 1.0}
    assert table["sklearn"] == {"wall_s": 2.0, "test_nmi": None}


def test_rotation_puts_each_contender_in_each_slot_once() -> None:
    orders = [rotated(["a", "b", "c"], repeat) for repeat in range(3)]
    assert orders[0] == ["a", "b", "c"]
    for slot in range(3):
        assert {order[slot] for order in orders} == {"a", "b", "c"}


def _run(contender: str, repeat: int, wall: float, **extra: float) -> dict[str, object]:
    return {"contender": contender, "repeat": repeat, "wall_s": wall, "peak_rss_mb": 100.0 * wall, **extra}


def test_summary_takes_medians_of_successful_runs_and_the_training_ratio() -> None:
    runs = [
        _run("clusterflow", 0, 2.0, training_jobs_s=1.0),
        _run("clusterflow", 1, 4.0, training_jobs_s=3.0),
        _run("clusterflow", 2, 3.0, training_jobs_s=2.0),
        {"contender": "clusterflow", "repeat": 3, "error": "exit 1: boom"},
        _run("spark", 0, 12.0),
        _run("sklearn", 0, 1.0, fit_seconds=4.0),
    ]
    summary = summarise(runs)
    assert summary["medians"]["clusterflow"]["wall_s"] == 3.0
    assert summary["medians"]["clusterflow"]["successful_runs"] == 3
    assert summary["ratios"]["spark"]["wall_s"] == pytest.approx(0.25)
    assert summary["ratios"]["sklearn"]["peak_rss_mb"] == pytest.approx(3.0)
    assert summary["ratios"]["training_jobs_vs_sklearn_fit"]["ratio"] == pytest.approx(0.5)
    assert summary["errors"] == {"clusterflow#3": "exit 1: boom"}


def test_training_seconds_sum_the_training_states_only() -> None:
    metrics = {
        "states": [
            {"name": "ValidateInput", "seconds": 0.5},
            {"name": "TrainPCA", "seconds": 2.0},
            {"name": "Project", "seconds": 4.0},
            {"name": "TrainKMeans", "seconds": 3.0},
        ]
    }
    assert training_jobs_seconds(metrics) == (5.0, ["TrainPCA", "TrainKMeans"])
    assert training_jobs_seconds(None) == (None, [])


def test_targets_are_met_missed_or_unmeasured() -> None:
    results = {
        "datasets": {
            "fashion-mnist": {
                "medians": {"clusterflow": {"test_nmi": 0.50}, "sklearn": {"test_nmi": 0.52}},
                "ratios": {
                    "spark": {"wall_s": 0.4},
                    "sklearn": {"train_ssd": 1.02},
                    "training_jobs_vs_sklearn_fit": {"ratio": 0.9},
                },
            }
        },
        "lambda": {"artifact": {"cold_init_s": 0.4, "single_p50_ms": 2.0}},
        "parsing": {"ratio_vs_sklearn": 3.5},
    }
    verdicts = {t["name"]: t["met"] for t in judge(results)}
    assert verdicts["fashion-mnist: wall time vs Spark"] is True
    assert verdicts["fashion-mnist: K-Means SSD vs sklearn"] is False
    assert verdicts["fashion-mnist: test NMI minus sklearn's"] is False
    assert verdicts["Lambda artifact mode: cold init (s)"] is True
    assert verdicts["Lambda artifact mode: warm p50 per image (ms)"] is False
    assert verdicts["libsvm parsing vs load_svmlight_file"] is True
    assert verdicts["scale: peak memory vs 60,000 rows"] is None


def test_scale_curve_sizes_and_linearity_ratio() -> None:
    assert curve_sizes(1_000_000) == [60_000, 250_000, 1_000_000]
    assert curve_sizes(20_000) == [20_000]
    assert curve_sizes(200_000) == [60_000, 130_000, 200_000]
    linear = [{"rows": 100, "wall_s": 11.0}, {"rows": 200, "wall_s": 21.0}, {"rows": 400, "wall_s": 41.0}]
    assert marginal_time_ratio(linear) == pytest.approx(1.0)
    quadratic = [{"rows": n, "wall_s": n * n / 100} for n in (100, 200, 400)]
    assert marginal_time_ratio(quadratic) == pytest.approx(2.0)
    faster_when_bigger = [
        {"rows": 100, "wall_s": 10.0},
        {"rows": 200, "wall_s": 30.0},
        {"rows": 400, "wall_s": 20.0},
    ]
    assert marginal_time_ratio(faster_when_bigger) is None


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    images = np.zeros((20, 28, 28))
    images[:, 8:20, 10:18] = rng.integers(1, 256, (20, 12, 8))
    return images.reshape(20, 784), np.arange(20) % 10


def test_scaled_set_is_deterministic_a_prefix_stream_and_valid_libsvm(
    digits: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    images, labels = digits
    first = write_scaled_libsvm(images, labels, 130, tmp_path / "a.libsvm", block_rows=50)
    again = write_scaled_libsvm(images, labels, 130, tmp_path / "b.libsvm", block_rows=50)
    shorter = write_scaled_libsvm(images, labels, 75, tmp_path / "c.libsvm", block_rows=50)
    other_seed = write_scaled_libsvm(images, labels, 130, tmp_path / "d.libsvm", block_rows=50, seed=1)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes().splitlines()[:75] == shorter.read_bytes().splitlines()
    assert copy_prefix(first, 75, tmp_path / "e.libsvm").read_bytes() == shorter.read_bytes()
    assert first.read_bytes() != other_seed.read_bytes()
    features, read_labels = load_svmlight_file(str(first), n_features=784)
    assert features.shape == (130, 784)
    assert set(read_labels.astype(int)) <= set(range(10))
    assert 0 < features.max() <= 255 and features.min() >= 0
    # Deformed, not copied: no generated row equals a source digit.
    dense = np.asarray(features.todense())
    assert not any((dense == image).all(axis=1).any() for image in images)


def test_process_tree_peak_counts_children(tmp_path: Path) -> None:
    child = "import numpy as np, time; a = np.ones(40_000_000 // 8) ; time.sleep(0.4)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    measured = run_measured([sys.executable, "-c", parent], log_path=tmp_path / "log.txt")
    alone = run_measured([sys.executable, "-c", "import time; time.sleep(0.4)"])
    assert measured.returncode == 0 and alone.returncode == 0
    # The grandchild's 40 MB array counts, with both interpreters; one bare interpreter is far less.
    assert measured.peak_tree_rss_mb > alone.peak_tree_rss_mb + 40
    assert alone.peak_tree_rss_mb < 40
    assert sum(measured.peak_breakdown.values()) == pytest.approx(measured.peak_tree_rss_mb, rel=0.01)


def test_report_writes_json_markdown_and_plot(tmp_path: Path) -> None:
    from bench.report import write_all

    runs = [
        _run("clusterflow", 0, 2.0, test_nmi=0.5, train_ssd=10.0),
        _run("spark", 0, 8.0, test_nmi=0.4, train_ssd=11.0),
        _run("sklearn", 0, 1.0, test_nmi=0.5, train_ssd=10.0, fit_seconds=1.0),
    ]
    block = {"dataset": {"train_mb": 1.0, "test_mb": 0.5}, "repeats": 1, "runs": runs, **summarise(runs)}
    results = {
        "started": "now",
        "machine": {
            "nproc": 2,
            "cpu_model": "cpu",
            "memory_gib": 8,
            "python": "3.11",
            "java": "17",
            "load_average_at_start": [0.0, 0.0, 0.0],
        },
        "datasets": {"mnist-sample": block},
        "unavailable": {"fashion-mnist": "package missing"},
        "lambda": {"unavailable": "no handler"},
        "scale": {
            "points": [
                {"rows": 100, "wall_s": 1.0, "peak_rss_mb": 50.0},
                {"rows": 400, "wall_s": 3.0, "peak_rss_mb": 52.0},
            ]
        },
    }
    results["targets"] = judge(results)
    write_all(results, tmp_path)
    text = (tmp_path / "bench.md").read_text()
    assert "| clusterflow / spark | 0.250x |" in text
    assert "fashion-mnist: not measured" in text and "package missing" in text
    assert "Not measured: no handler" in text
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "scale.png").exists()
    assert '"mnist-sample"' in (tmp_path / "bench.json").read_text()
