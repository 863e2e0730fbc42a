"""The scale curve: clusterflow's pipeline on growing prefixes of the generated MNIST-shaped stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.pipelines import Dataset, run_contender
from bench.scaled import write_scaled_libsvm

REFERENCE_ROWS = 60_000


def curve_sizes(largest: int) -> list[int]:
    """60,000 rows (the reference for memory), a quarter of the largest (or the midpoint when that is
    not above 60,000), and the largest."""
    if largest <= REFERENCE_ROWS:
        return [largest]
    middle = largest // 4 if largest // 4 > REFERENCE_ROWS else (REFERENCE_ROWS + largest) // 2
    return sorted({REFERENCE_ROWS, middle, largest})


def copy_prefix(source: Path, rows: int, target: Path) -> Path:
    """The first `rows` lines of `source`: by the stream's prefix property, that size's set."""
    if target.exists():
        return target
    with open(source, "rb") as reader, open(target, "wb") as writer:
        for count, line in enumerate(reader):
            if count == rows:
                break
            writer.write(line)
    return target


def marginal_time_ratio(points: list[dict[str, Any]]) -> float | None:
    """Seconds per added row over the last segment of the curve divided by that over the first segment.

    None when a segment got faster as it grew (time fell with more rows: the machine's load changed,
    so the curve says nothing about growth)."""
    done = [p for p in points if p.get("wall_s") is not None and "error" not in p]
    if len(done) < 3:
        return None
    first = (done[1]["wall_s"] - done[0]["wall_s"]) / (done[1]["rows"] - done[0]["rows"])
    last = (done[-1]["wall_s"] - done[-2]["wall_s"]) / (done[-1]["rows"] - done[-2]["rows"])
    return last / first if first > 0 and last > 0 else None


def run_scale(
    largest: int, digits: Any, labels: Any, value_scale: float, test: Path, work: Path
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    full = work / f"scaled-{largest}.libsvm"
    if not full.exists():
        print(f"generating {largest:,} rows into {full}", flush=True)
        write_scaled_libsvm(digits, labels, largest, full, value_scale=value_scale)
    points: list[dict[str, Any]] = []
    for rows in curve_sizes(largest):
        train = full if rows == largest else copy_prefix(full, rows, work / f"scaled-{rows}.libsvm")
        record = run_contender("clusterflow", Dataset(f"scaled-{rows}", train, test), work / f"run-{rows}")
        record["rows"] = rows
        record["train_mb"] = round(train.stat().st_size / 2**20, 1)
        for bulky in ("states",):
            record.pop(bulky, None)
        points.append(record)
        print(
            f"  [scale] {rows:,} rows: {record.get('wall_s', float('nan')):.1f}s, "
            f"{record.get('peak_rss_mb', float('nan')):.0f} MB{' FAILED' if 'error' in record else ''}",
            flush=True,
        )
    return {
        "largest": largest,
        "test": str(test),
        "runs_per_point": 1,
        "points": points,
        **curve_summary(points),
    }


def curve_summary(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak memory at the largest size over that at 60,000 rows, and the linearity ratio."""
    reference = next((p for p in points if p["rows"] == REFERENCE_ROWS and p.get("peak_rss_mb")), None)
    biggest = points[-1] if points else {}
    memory_ratio = None
    if reference and biggest.get("peak_rss_mb") and "error" not in biggest:
        memory_ratio = biggest["peak_rss_mb"] / reference["peak_rss_mb"]
    summary: dict[str, Any] = {
        "memory_ratio": memory_ratio,
        "marginal_time_ratio": marginal_time_ratio(points),
    }
    if summary["marginal_time_ratio"] is None and len(points) >= 3:
        summary["unavailable"] = (
            "no linearity verdict: a larger size ran faster than a smaller one (load changed)"
        )
    return summary
