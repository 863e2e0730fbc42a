"""The pipeline comparison: three contenders, same files, alternating order, medians and ratios."""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.chunks import read_labels
from bench.clustering_math import nmi
from bench.contenders import clusterflow_pipeline
from bench.proctree import Measured, run_measured
from bench.stats import median, ratio_table, rotated

CONTENDERS = ("clusterflow", "spark", "sklearn")
BASELINES = ("spark", "sklearn")
METRICS = ("wall_s", "peak_rss_mb", "test_nmi", "train_ssd")
_TRAINING_STATE = re.compile(r"train", re.IGNORECASE)
_LOG_TAIL_CHARS = 1500


@dataclass(frozen=True)
class Dataset:
    name: str
    train: Path
    test: Path

    def describe(self) -> dict[str, Any]:
        return {
            "train": str(self.train),
            "test": str(self.test),
            "train_mb": round(self.train.stat().st_size / 2**20, 1),
            "test_mb": round(self.test.stat().st_size / 2**20, 1),
        }


def log_tail(measured: Measured) -> str:
    if not measured.log_path:
        return ""
    return Path(measured.log_path).read_text(errors="replace")[-_LOG_TAIL_CHARS:]


def training_jobs_seconds(metrics: dict[str, Any] | None) -> tuple[float | None, list[str]]:
    """Seconds of the states whose names say they train (the PCA and K-Means training jobs)."""
    if not metrics:
        return None, []
    states = [s for s in metrics.get("states", []) if _TRAINING_STATE.search(str(s.get("name", "")))]
    if not states:
        return None, []
    return float(sum(float(s["seconds"]) for s in states)), [str(s["name"]) for s in states]


def _score(record: dict[str, Any], labels: np.ndarray, truth: np.ndarray) -> None:
    record["test_nmi"] = nmi(truth, labels)
    record["test_rows"] = int(len(labels))


def run_clusterflow(dataset: Dataset, work: Path) -> dict[str, Any]:
    out = work / "out"
    measured = run_measured(
        clusterflow_pipeline.run_command(dataset.train, dataset.test, out), log_path=work / "log.txt"
    )
    record: dict[str, Any] = {"wall_s": measured.wall_s, "peak_rss_mb": measured.peak_tree_rss_mb}
    record["peak_breakdown_mb"] = measured.peak_breakdown
    if measured.returncode != 0:
        return {**record, "error": f"exit {measured.returncode}: {log_tail(measured)}"}
    evaluated = clusterflow_pipeline.evaluate(out, dataset.train, dataset.test)
    _score(record, evaluated["labels"], evaluated["truth"])
    record["train_ssd"] = evaluated["train_ssd"]
    metrics = clusterflow_pipeline.read_metrics(out)
    seconds, states = training_jobs_seconds(metrics)
    record["training_jobs_s"] = seconds
    record["training_states"] = states
    if metrics:
        record["own_nmi"] = metrics.get("nmi")
        record["own_train_msd"] = metrics.get("train_msd")
        record["states"] = metrics.get("states")
    return record


def run_module_contender(module: str, dataset: Dataset, work: Path) -> dict[str, Any]:
    """A contender under bench.contenders: wall time ends when its test labels are on disk."""
    command = [sys.executable, "-m", f"bench.contenders.{module}", "--train", str(dataset.train)]
    command += ["--test", str(dataset.test), "--work", str(work)]
    measured = run_measured(command, log_path=work / "log.txt")
    result_path = work / "result.json"
    record: dict[str, Any] = {"process_s": measured.wall_s}
    if measured.returncode != 0 or not result_path.exists():
        return {**record, "error": f"exit {measured.returncode}: {log_tail(measured)}"}
    result = json.loads(result_path.read_text())
    wall = result.pop("labels_done_epoch") - measured.started_epoch
    record.update(wall_s=wall, peak_rss_mb=measured.peak_tree_rss_until(wall))
    truth_path = work / "truth.npy"
    truth = np.load(truth_path) if truth_path.exists() else read_labels(dataset.test)
    _score(record, np.load(work / "labels.npy"), truth)
    record.update(result)
    return record


def run_contender(contender: str, dataset: Dataset, work: Path) -> dict[str, Any]:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if contender == "clusterflow":
        return run_clusterflow(dataset, work)
    return run_module_contender(f"{contender}_pipeline", dataset, work)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    medians: dict[str, dict[str, float | None]] = {}
    for contender in CONTENDERS:
        own = [r for r in runs if r["contender"] == contender and "error" not in r]
        metrics = (*METRICS, "training_jobs_s", "fit_seconds")
        medians[contender] = {m: median([r.get(m) for r in own]) for m in metrics if any(m in r for r in own)}
        medians[contender]["successful_runs"] = len(own)
    ratios = ratio_table(medians, "clusterflow", BASELINES)
    for baseline in BASELINES:
        ratios[baseline].pop("successful_runs", None)
        ratios[baseline].pop("training_jobs_s", None)
    ratios["training_jobs_vs_sklearn_fit"] = {
        "ratio": _divide(medians["clusterflow"].get("training_jobs_s"), medians["sklearn"].get("fit_seconds"))
    }
    errors = {f"{r['contender']}#{r['repeat']}": r["error"] for r in runs if "error" in r}
    return {"medians": medians, "ratios": ratios, "errors": errors}


def _divide(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _block(dataset: Dataset, repeats: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"dataset": dataset.describe(), "repeats": repeats, "runs": runs, **summarise(runs)}


def compare(
    dataset: Dataset,
    repeats: int,
    work: Path,
    contenders: tuple[str, ...] = CONTENDERS,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every contender `repeats` times in rotating order; `on_run` gets the summary so far after each run."""
    runs: list[dict[str, Any]] = []
    for repeat in range(repeats):
        for contender in rotated(contenders, repeat):
            started = time.perf_counter()
            record = run_contender(contender, dataset, work / f"{contender}-{repeat}")
            record.update(contender=contender, repeat=repeat, order=len(runs) % len(contenders))
            runs.append(record)
            status = "FAILED" if "error" in record else f"{record.get('wall_s', 0):.1f}s"
            print(
                f"  [{dataset.name}] repeat {repeat + 1}/{repeats} {contender}: {status}"
                f" ({time.perf_counter() - started:.0f}s with evaluation)",
                flush=True,
            )
            if on_run:
                on_run(_block(dataset, repeats, runs))
    return _block(dataset, repeats, runs)
