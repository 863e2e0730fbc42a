"""Summaries of repeated measurements: medians, percentiles and the ratio table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def median(values: Sequence[float | None]) -> float | None:
    """Median of the values that were measured; None when none were."""
    present = sorted(v for v in values if v is not None and not math.isnan(v))
    if not present:
        return None
    middle = len(present) // 2
    if len(present) % 2:
        return present[middle]
    return (present[middle - 1] + present[middle]) / 2


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks, as numpy's default."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def ratio_table(
    medians: Mapping[str, Mapping[str, float | None]], subject: str, baselines: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """For each baseline, subject/baseline per metric: {baseline: {metric: ratio}}.

    `medians` maps contender -> metric -> median; a contender or metric missing gives None.
    """
    own = medians.get(subject, {})
    table: dict[str, dict[str, float | None]] = {}
    for baseline in baselines:
        theirs = medians.get(baseline, {})
        table[baseline] = {metric: ratio(own.get(metric), theirs.get(metric)) for metric in own}
    return table


def rotated(items: Sequence[str], repeat: int) -> list[str]:
    """The run order for one repeat: rotate by the repeat number, so each contender takes each slot."""
    if not items:
        return []
    shift = repeat % len(items)
    return list(items[shift:]) + list(items[:shift])
