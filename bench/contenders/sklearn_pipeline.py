"""scikit-learn: load_svmlight_file, then make_pipeline(PCA(50), KMeans(10, n_init=10))."""

from __future__ import annotations

import time

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_svmlight_file
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline

from bench.clustering_math import sum_squared_distances
from bench.contenders.common import CLUSTERS, COMPONENTS, FEATURES, parse_args, write_labels, write_result


def main() -> None:
    args = parse_args(__doc__ or "")
    train_sparse, _ = load_svmlight_file(str(args.train), n_features=FEATURES)
    test_sparse, _ = load_svmlight_file(str(args.test), n_features=FEATURES)
    train = np.asarray(train_sparse.todense())
    pipeline = make_pipeline(PCA(COMPONENTS, random_state=0), KMeans(CLUSTERS, n_init=10, random_state=0))
    fit_started = time.perf_counter()
    pipeline.fit(train)
    fit_seconds = time.perf_counter() - fit_started
    labels = pipeline.predict(np.asarray(test_sparse.todense()))
    labels_done_epoch = write_labels(args.work, labels)

    projections = pipeline[0].transform(train)
    write_result(
        args.work,
        {
            "labels_done_epoch": labels_done_epoch,
            "train_ssd": sum_squared_distances(projections, pipeline[1].cluster_centers_),
            "fit_seconds": fit_seconds,
            "own_inertia": float(pipeline[1].inertia_),
            "pca_solver": pipeline[0]._fit_svd_solver,
        },
    )


if __name__ == "__main__":
    main()
