"""clusterflow's Spark job (Glue 5.0 script and EMR Serverless entry point): prepare or project.

prepare: libsvm -> `<output_uri>/part-NNNNN.pbr`, dense float32 RecordIO-protobuf for PCA training.
project: libsvm + PCA model -> `<output_uri>/part-NNNNN.pbr` projections for K-Means training, and
`<projections_uri>/part-NNNNN.parquet` with `(label double, projection array<float>)` for evaluation.

Arguments come the Glue way (`--key value` or `--key=value`; Glue's own are ignored):
  --mode prepare|project  --input_uri URI (.gz allowed)  --num_features N  --output_uri PREFIX
  project: --pca_model_uri URI  --projections_uri PREFIX  [--projection_engine artifact|endpoint]
  endpoint: --pca_endpoint_name NAME  --region REGION  [--endpoint_batch_size ROWS (500)]
  optional: --num_shards N (repartition before writing; default: one shard per input split)
URIs are s3:// or local paths. The work itself lives in `clusterflow.spark`.
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
from clusterflow.spark.session import local_session
from clusterflow.spark.transforms import RuntimeClientFactory

APP_NAME = "clusterflow-spark-job"


def _session() -> tuple[SparkSession, bool]:
    """The running session if there is one (the local cloud), else one on the JVM spark-submit started
    (Glue, EMR Serverless), else a quiet local one (`python spark_jobs/project.py ...`).

    The flag is True when the session was created here (and so may be stopped here)."""
    created = SparkContext._active_spark_context is None
    if created and "PYSPARK_GATEWAY_PORT" not in os.environ:
        return local_session(APP_NAME, cores=os.cpu_count() or 2), True
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
