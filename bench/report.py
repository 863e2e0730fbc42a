"""bench.json, bench.md (Markdown tables) and bench.png / scale.png (matplotlib, Agg)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.pipelines import BASELINES, CONTENDERS

_COLUMNS = (
    ("wall_s", "wall s", "{:.1f}"),
    ("peak_rss_mb", "peak MB", "{:.0f}"),
    ("test_nmi", "test NMI", "{:.4f}"),
    ("train_ssd", "train SSD", "{:.4g}"),
)


def one_line(text: str, limit: int = 240) -> str:
    """The last non-empty line of a message, for a table cell."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return (lines[-1] if lines else "").replace("|", "/")[:limit]


def _fmt(value: Any, pattern: str = "{:.3g}") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return pattern.format(value)
    return str(value)


def _dataset_section(name: str, block: dict[str, Any]) -> list[str]:
    info = block["dataset"]
    lines = [
        f"### {name} (train {info['train_mb']} MB, test {info['test_mb']} MB; median of "
        f"{block['repeats']} run(s), order rotated per repeat)",
        "",
    ]
    lines.append("| contender | " + " | ".join(title for _, title, _ in _COLUMNS) + " | runs ok |")
    lines.append("|---" * (len(_COLUMNS) + 2) + "|")
    for contender in CONTENDERS:
        medians = block["medians"].get(contender, {})
        cells = [_fmt(medians.get(key), pattern) for key, _, pattern in _COLUMNS]
        lines.append(f"| {contender} | " + " | ".join(cells) + f" | {medians.get('successful_runs', 0)} |")
    for baseline in BASELINES:
        ratios = block["ratios"].get(baseline, {})
        cells = [_fmt(ratios.get(key), "{:.3f}x") for key, _, _ in _COLUMNS]
        lines.append(f"| clusterflow / {baseline} | " + " | ".join(cells) + " | |")
    ours = block["medians"].get("clusterflow", {})
    fit = block["medians"].get("sklearn", {}).get("fit_seconds")
    lines += [
        "",
        f"clusterflow's two training jobs: {_fmt(ours.get('training_jobs_s'), '{:.2f}')} s; "
        f"sklearn PCA(50)+KMeans(10, n_init=10) fit on in-memory arrays: {_fmt(fit, '{:.2f}')} s; "
        f"ratio {_fmt(block['ratios']['training_jobs_vs_sklearn_fit']['ratio'], '{:.3f}x')}.",
    ]
    runs = block.get("runs", [])
    breakdown = next((r["peak_breakdown_mb"] for r in runs if r.get("peak_breakdown_mb")), None)
    if breakdown:
        ranked = sorted(breakdown.items(), key=lambda kv: -kv[1])
        parts = ", ".join(f"{name} {mb:.0f} MB" for name, mb in ranked)
        lines.append(f"\nclusterflow's peak memory by process (first run): {parts}.")
    for run, error in block.get("errors", {}).items():
        lines.append(f"\n- FAILED {run}: `{one_line(error)}`")
    return lines + [""]


def _lambda_section(block: dict[str, Any] | None) -> list[str]:
    lines = ["## Clustering Lambda", ""]
    if not block or block.get("unavailable"):
        return lines + [f"Not measured: {one_line((block or {}).get('unavailable', 'not run'))}", ""]
    lines += [
        "| mode | cold init s | 1 image p50 ms | 1 image p99 ms | 100 images p50 ms | 100 images p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("artifact", "endpoint"):
        row = block.get(mode)
        if not row or row.get("unavailable"):
            reason = one_line((row or {}).get("unavailable", "not measured"))
            lines.append(f"| {mode} | n/a ({reason}) | | | | |")
            continue
        keys = ("cold_init_s", "single_p50_ms", "single_p99_ms", "batch_p50_ms", "batch_p99_ms")
        lines.append(f"| {mode} | " + " | ".join(_fmt(row.get(k), "{:.3f}") for k in keys) + " |")
    return lines + [""]


def _parsing_section(block: dict[str, Any] | None) -> list[str]:
    lines = ["## libsvm parsing", ""]
    if not block:
        return lines + ["Not measured.", ""]
    lines += [
        f"File: {block.get('file')} ({_fmt(block.get('file_mb'), '{:.1f}')} MB), median of "
        f"{block.get('repeats')} runs.",
        "",
        "| reader | MB/s | note |",
        "|---|---|---|",
    ]
    for reader, row in block.get("readers", {}).items():
        lines.append(f"| {reader} | {_fmt(row.get('mb_per_s'), '{:.1f}')} | {row.get('note', '')} |")
    lines.append(f"\nclusterflow / load_svmlight_file: {_fmt(block.get('ratio_vs_sklearn'), '{:.2f}x')}")
    if block.get("unavailable"):
        lines.append(f"\nclusterflow's parser: {block['unavailable']}")
    return lines + [""]


def _scale_section(block: dict[str, Any] | None) -> list[str]:
    if not block:
        return []
    lines = ["## Scale (clusterflow local run, generated MNIST-shaped rows)", ""]
    if block.get("unavailable"):
        lines.append(f"Note: {block['unavailable']}")
    lines += ["| rows | wall s | peak MB | s per 1000 rows | test NMI |", "|---|---|---|---|---|"]
    for point in block.get("points", []):
        per = point["wall_s"] / point["rows"] * 1000 if point.get("wall_s") else None
        lines.append(
            f"| {point['rows']:,} | {_fmt(point.get('wall_s'), '{:.1f}')} | "
            f"{_fmt(point.get('peak_rss_mb'), '{:.0f}')} | {_fmt(per, '{:.3f}')} | "
            f"{_fmt(point.get('test_nmi'), '{:.4f}')} |"
            + (f" FAILED: {one_line(point['error'])}" if point.get("error") else "")
        )
    lines.append(
        f"\nPeak memory at the largest size / at 60,000 rows: {_fmt(block.get('memory_ratio'), '{:.2f}x')}; "
        f"marginal s/row, last segment / first: {_fmt(block.get('marginal_time_ratio'), '{:.2f}x')}."
    )
    return lines + [""]


def _targets_section(targets: list[dict[str, Any]]) -> list[str]:
    lines = ["## Targets (issue 6)", "", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in targets:
        met = {True: "met", False: "**not met**", None: "not measured"}[t["met"]]
        note = f" ({one_line(t['note'])})" if t["note"] else ""
        lines.append(f"| {t['name']} | {t['goal']} | {_fmt(t['value'], '{:.3f}')} | {met}{note} |")
    return lines + [""]


def markdown(results: dict[str, Any]) -> str:
    machine = results["machine"]
    lines = [
        f"# clusterflow benchmark ({results['started']})",
        "",
        f"Machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['memory_gib']} GiB memory, "
        f"Python {machine['python']}, {machine['java']}; load average at start "
        f"{machine['load_average_at_start']}, at end {machine.get('load_average_at_end')}.",
        "",
        "Wall time runs from process launch to test-set cluster labels on disk (Spark's JVM start "
        "included); peak MB is the summed RSS of the contender's whole process tree. NMI and SSD are "
        "computed by the harness the same way for all three (SSD: each contender's own 50-d training "
        "projections to its own centres).",
        "",
    ]
    lines += _targets_section(results.get("targets", []))
    lines.append("## Pipelines\n")
    for name, block in results.get("datasets", {}).items():
        lines += _dataset_section(name, block)
    for name, reason in results.get("unavailable", {}).items():
        lines += [f"### {name}: not measured", "", reason, ""]
    lines += _lambda_section(results.get("lambda"))
    lines += _parsing_section(results.get("parsing"))
    lines += _scale_section(results.get("scale"))
    return "\n".join(lines)


def _bar_panel(axis: Any, results: dict[str, Any], metric: str, title: str) -> None:
    names = list(results.get("datasets", {}))
    width = 0.8 / len(CONTENDERS)
    for offset, contender in enumerate(CONTENDERS):
        values = [results["datasets"][n]["medians"].get(contender, {}).get(metric) or 0.0 for n in names]
        axis.bar([i + offset * width for i in range(len(names))], values, width, label=contender)
    axis.set_xticks([i + width for i in range(len(names))], names)
    axis.set_title(title)


def _scale_panel(axis: Any, points: list[dict[str, Any]]) -> None:
    rows = [p["rows"] for p in points]
    axis.plot(rows, [p["wall_s"] for p in points], "o-", color="tab:blue")
    axis.set(xlabel="training rows", ylabel="wall seconds", title="clusterflow at scale")
    memory = axis.twinx()
    memory.plot(rows, [p["peak_rss_mb"] for p in points], "s--", color="tab:red")
    memory.set_ylabel("peak RSS MB", color="tab:red")
    memory.set_ylim(0, None)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale_points = [p for p in (results.get("scale") or {}).get("points", []) if p.get("wall_s")]
    panels = 4 if scale_points else 3
    figure, axes = plt.subplots(1, panels, figsize=(4.4 * panels, 4))
    for axis, (metric, title) in zip(
        axes[:3],
        (
            ("wall_s", "wall seconds (median)"),
            ("peak_rss_mb", "peak RSS MB (process tree)"),
            ("test_nmi", "test NMI"),
        ),
        strict=True,
    ):
        _bar_panel(axis, results, metric, title)
    axes[0].legend()
    if scale_points:
        _scale_panel(axes[3], scale_points)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def plot_scale(scale: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [p for p in scale.get("points", []) if p.get("wall_s")]
    if not points:
        return
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    rows = [p["rows"] for p in points]
    left.plot(rows, [p["wall_s"] for p in points], "o-")
    left.set(xlabel="training rows", ylabel="wall seconds", title="clusterflow local run: time")
    right.plot(rows, [p["peak_rss_mb"] for p in points], "o-")
    right.set(
        xlabel="training rows", ylabel="peak RSS MB", title="clusterflow local run: memory", ylim=(0, None)
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write_all(results: dict[str, Any], out: Path) -> None:
    (out / "bench.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "bench.md").write_text(markdown(results))
    plot(results, out / "bench.png")
    if results.get("scale"):
        plot_scale(results["scale"], out / "scale.png")
