"""clusterflow's Spark job (Glue 5.0 script and EMR Serverless entry point): prepare or project.

prepare: libsvm -> RecordIO-protobuf shards for PCA training.
project: libsvm + PCA model -> RecordIO-protobuf projections for K-Means training, and
(label, projection) Parquet for evaluation.
Arguments come the Glue way (`--mode prepare --input_uri ... --num_features 784 --output_uri ...`); see
`clusterflow.spark.arguments`. The work itself lives in `clusterflow.spark`.
"""

from __future__ import annotations

import os
import sys
import time

from pyspark import SparkContext
from pyspark.sql import SparkSession

from clusterflow.errors import ClusterflowError
from clusterflow.spark.arguments import parse_job_arguments
from clusterflow.spark.pipeline import run
from clusterflow.spark.transforms import RuntimeClientFactory

APP_NAME = "clusterflow-spark-job"


def _session() -> tuple[SparkSession, bool]:
    """The running session if there is one (Glue, the local cloud), else a new one; True when created here."""
    created = SparkContext._active_spark_context is None
    if created:
        # Off-cluster, Python workers must run this interpreter (the one with numpy and clusterflow).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return SparkSession.builder.appName(APP_NAME).getOrCreate(), created


def main(argv: list[str] | None = None, client_factory: RuntimeClientFactory | None = None) -> None:
    args = parse_job_arguments(sys.argv if argv is None else argv)
    spark, created = _session()
    started = time.perf_counter()
    try:
        summary = run(spark, args, client_factory)
    finally:
        if created:
            spark.stop()
    seconds = time.perf_counter() - started
    print(
        f"clusterflow spark job: mode={summary.mode} rows={summary.rows} shards={len(summary.shards)} "
        f"seconds={seconds:.2f}"
    )


if __name__ == "__main__":
    try:
        main()
    except ClusterflowError as exc:
        raise SystemExit(f"error: {exc}") from None
