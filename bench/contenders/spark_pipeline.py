"""Spark MLlib on local[2]: the libsvm reader (numFeatures=784), then Pipeline(PCA(k=50), KMeans(k=10))."""

from __future__ import annotations

from typing import Any

import numpy as np
from pyspark.ml import Pipeline
from pyspark.ml.clustering import KMeans
from pyspark.ml.feature import PCA
from pyspark.sql import SparkSession

from bench.clustering_math import sum_squared_distances
from bench.contenders.common import CLUSTERS, COMPONENTS, FEATURES, parse_args, write_labels, write_result

SPARK_CONF = {
    "spark.driver.memory": "4g",
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "4",
}


def start_spark() -> SparkSession:
    builder = SparkSession.builder.master("local[2]").appName("clusterflow-bench")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> None:
    args = parse_args(__doc__ or "")
    spark = start_spark()
    reader = spark.read.format("libsvm").option("numFeatures", str(FEATURES))
    train = reader.load(str(args.train))
    test = reader.load(str(args.test))
    pipeline = Pipeline(
        stages=[
            PCA(k=COMPONENTS, inputCol="features", outputCol="pca"),
            KMeans(k=CLUSTERS, featuresCol="pca", predictionCol="cluster", seed=1),
        ]
    )
    model = pipeline.fit(train)
    rows = model.transform(test).select("label", "cluster").collect()
    labels_done_epoch = write_labels(
        args.work, np.array([row.cluster for row in rows]), np.array([row.label for row in rows])
    )

    kmeans: Any = model.stages[1]
    projections = np.array([row.pca.toArray() for row in model.transform(train).select("pca").collect()])
    write_result(
        args.work,
        {
            "labels_done_epoch": labels_done_epoch,
            "train_ssd": sum_squared_distances(projections, np.array(kmeans.clusterCenters())),
            "own_training_cost": float(kmeans.summary.trainingCost),
            "iterations": int(kmeans.summary.numIter),
        },
    )
    spark.stop()


if __name__ == "__main__":
    main()
