"""Issue 6's targets, judged from a results dictionary: met, missed, or not measured (and why)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

FULL_SIZE = "fashion-mnist"


@dataclass
class Target:
    name: str
    goal: str
    value: float | None
    met: bool | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _at(results: dict[str, Any], *keys: str) -> Any:
    node: Any = results
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _at_most(name: str, goal: str, value: float | None, limit: float, missing: str) -> Target:
    if value is None:
        return Target(name, goal, None, None, missing)
    return Target(name, goal, value, value <= limit)


def _at_least(name: str, goal: str, value: float | None, limit: float, missing: str) -> Target:
    if value is None:
        return Target(name, goal, None, None, missing)
    return Target(name, goal, value, value >= limit)


def pipeline_targets(results: dict[str, Any], dataset: str = FULL_SIZE) -> list[Target]:
    missing = f"no successful {dataset} runs of both contenders"
    ratios = _at(results, "datasets", dataset, "ratios") or {}
    medians = _at(results, "datasets", dataset, "medians") or {}
    ours, sklearn = medians.get("clusterflow", {}), medians.get("sklearn", {})
    nmi_gap = None
    if ours.get("test_nmi") is not None and sklearn.get("test_nmi") is not None:
        nmi_gap = ours["test_nmi"] - sklearn["test_nmi"]
    return [
        _at_most(f"{dataset}: wall time vs Spark", "<= 0.5x", _at(ratios, "spark", "wall_s"), 0.5, missing),
        _at_most(
            f"{dataset}: training jobs vs sklearn fit in memory",
            "<= 1.0x",
            _at(ratios, "training_jobs_vs_sklearn_fit", "ratio"),
            1.0,
            "clusterflow's metrics.json states or sklearn's fit time missing",
        ),
        _at_most(
            f"{dataset}: K-Means SSD vs sklearn",
            "<= 1.01x",
            _at(ratios, "sklearn", "train_ssd"),
            1.01,
            missing,
        ),
        _at_least(f"{dataset}: test NMI minus sklearn's", ">= -0.01", nmi_gap, -0.01, missing),
    ]


def lambda_targets(results: dict[str, Any]) -> list[Target]:
    artifact = _at(results, "lambda", "artifact") or {}
    missing = str(_at(results, "lambda", "unavailable") or "clustering Lambda not measured")
    p50 = artifact.get("single_p50_ms")
    return [
        _at_most("Lambda artifact mode: cold init (s)", "< 1 s", artifact.get("cold_init_s"), 1.0, missing),
        _at_most("Lambda artifact mode: warm p50 per image (ms)", "< 1 ms", p50, 1.0, missing),
    ]


def parsing_target(results: dict[str, Any]) -> Target:
    missing = str(_at(results, "parsing", "unavailable") or "parsing not measured")
    return _at_least(
        "libsvm parsing vs load_svmlight_file",
        ">= 3x",
        _at(results, "parsing", "ratio_vs_sklearn"),
        3.0,
        missing,
    )


def scale_targets(results: dict[str, Any]) -> list[Target]:
    scale = results.get("scale")
    if not scale:
        return [Target("scale: peak memory vs 60,000 rows", "<= 1.5x", None, None, "run with --scale N")]
    missing = str(scale.get("unavailable") or "scale runs failed")
    largest = f"{scale.get('largest', 0):,}"
    return [
        _at_most(
            f"scale: peak memory at {largest} rows vs 60,000",
            "<= 1.5x (issue: at 1,000,000)",
            scale.get("memory_ratio"),
            1.5,
            missing,
        ),
        _at_most(
            "scale: marginal seconds per row, last segment vs first",
            "<= 1.25x (linear)",
            scale.get("marginal_time_ratio"),
            1.25,
            missing,
        ),
    ]


def judge(results: dict[str, Any]) -> list[dict[str, Any]]:
    targets = [
        *pipeline_targets(results),
        *lambda_targets(results),
        parsing_target(results),
        *scale_targets(results),
    ]
    return [t.to_dict() for t in targets]
