"""The two quality figures, computed the same way for every contender."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import normalized_mutual_info_score


def nearest(points: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the closest centre, squared distance to it) for each row of `points`."""
    points = np.asarray(points, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    squared = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centres.T
        + np.einsum("ij,ij->i", centres, centres)[None, :]
    )
    closest = np.argmin(squared, axis=1)
    return closest, np.maximum(squared[np.arange(len(points)), closest], 0.0)


def sum_squared_distances(projections: np.ndarray, centres: np.ndarray) -> float:
    """K-Means SSD: each projection's squared distance to its closest centre, summed."""
    return float(nearest(projections, centres)[1].sum())


def nmi(true_labels: np.ndarray, clusters: np.ndarray) -> float:
    return float(normalized_mutual_info_score(np.asarray(true_labels), np.asarray(clusters)))
