"""The Spark job's transforms: functions of DataFrames, vectorised per Arrow batch with numpy.

Schemas: libsvm as Spark reads it `(label double, features vector)`; dense `(label double,
features array<float>)`; projected `(label double, projection array<float>)`; shard reports
`(shard string, rows long)`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from itertools import chain
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark import TaskContext
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clusterflow.artifacts.model import PCAModel
from clusterflow.errors import ClusterflowError, DataFormatError
from clusterflow.spark.storage import open_part, part_name, spark_path

LABEL = "label"
FEATURES = "features"
PROJECTION = "projection"
PROJECTED_SCHEMA = f"{LABEL} double, {PROJECTION} array<float>"
SHARD_REPORT_SCHEMA = "shard string, rows long"

RuntimeClientFactory = Callable[[str], Any]


class EndpointProjectionError(ClusterflowError):
    """The PCA endpoint answered something that is not one projection per row."""


def read_libsvm(spark: SparkSession, uri: str, num_features: int) -> DataFrame:
    """Spark's own libsvm reader (1-based ascending indices enforced; `.gz` decompressed by Hadoop)."""
    return spark.read.format("libsvm").option("numFeatures", num_features).load(spark_path(uri))


def to_dense(libsvm: DataFrame) -> DataFrame:
    return libsvm.select(
        F.col(LABEL).cast("double").alias(LABEL),
        vector_to_array(F.col(FEATURES), "float32").alias(FEATURES),
    )


def batch_matrix(batch: pa.RecordBatch, column: str) -> np.ndarray:
    """The array<float> column of an Arrow batch as an (n, width) float32 matrix, without a per-row loop."""
    lists = batch.column(batch.schema.get_field_index(column))
    rows = len(lists)
    if lists.null_count:
        raise DataFormatError(f"column {column!r} has {lists.null_count} null rows")
    values = lists.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if rows == 0:
        return values.reshape(0, 0)
    width, remainder = divmod(len(values), rows)
    lengths = np.diff(lists.offsets.to_numpy())
    if remainder or not np.all(lengths == width):
        raise DataFormatError(f"column {column!r} has rows of different lengths")
    return values.reshape(rows, width)


def batch_labels(batch: pa.RecordBatch) -> np.ndarray:
    return batch.column(batch.schema.get_field_index(LABEL)).to_numpy(zero_copy_only=False).astype(np.float64)


def projected_batch(labels: np.ndarray, projections: np.ndarray) -> pa.RecordBatch:
    rows, width = projections.shape
    flat = pa.array(np.ascontiguousarray(projections, dtype=np.float32).reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32), type=pa.int32())
    return pa.RecordBatch.from_arrays(
        [pa.array(labels, type=pa.float64()), pa.ListArray.from_arrays(offsets, flat)],
        names=[LABEL, PROJECTION],
    )


def _non_empty(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    return (batch for batch in batches if batch.num_rows)


def project_with_model(dense: DataFrame, model: PCAModel) -> DataFrame:
    """(x - mean) @ v for every row, the model broadcast once to each executor."""
    shared = dense.sparkSession.sparkContext.broadcast(model)

    def project_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        pca: PCAModel = shared.value
        for batch in _non_empty(batches):
            yield projected_batch(batch_labels(batch), pca.project(batch_matrix(batch, FEATURES)))

    return dense.mapInArrow(project_batches, PROJECTED_SCHEMA)


def default_runtime_client(region: str) -> Any:
    import boto3  # executors build their own client; AWS_ENDPOINT_URL is honoured by boto3 itself

    return boto3.client("sagemaker-runtime", region_name=region)


def csv_body(rows: np.ndarray) -> bytes:
    """text/csv, one row per line, no header; 9 significant digits round-trip float32 exactly."""
    buffer = io.StringIO()
    np.savetxt(buffer, rows, fmt="%.9g", delimiter=",")
    return buffer.getvalue().encode()


def parse_projections(body: bytes, rows: int, endpoint_name: str) -> np.ndarray:
    try:
        answers = json.loads(body)["projections"]
        matrix = np.array([answer["projection"] for answer in answers], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise EndpointProjectionError(
            f"endpoint {endpoint_name}: answer is not {{'projections': [{{'projection': [...]}}]}} ({exc})"
        ) from exc
    if matrix.ndim != 2 or matrix.shape[0] != rows:
        raise EndpointProjectionError(
            f"endpoint {endpoint_name}: sent {rows} rows, got {len(matrix) if matrix.ndim else 0} projections"
        )
    return matrix


def invoke_projection(client: Any, endpoint_name: str, rows: np.ndarray) -> np.ndarray:
    answer = client.invoke_endpoint(
        EndpointName=endpoint_name, ContentType="text/csv", Accept="application/json", Body=csv_body(rows)
    )
    return parse_projections(answer["Body"].read(), len(rows), endpoint_name)


def project_with_endpoint(
    dense: DataFrame,
    endpoint_name: str,
    region: str,
    batch_size: int = 500,
    client_factory: RuntimeClientFactory = default_runtime_client,
) -> DataFrame:
    """Project through the PCA endpoint: one client per partition, `batch_size` rows per request."""

    def project_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        client = client_factory(region)
        for batch in _non_empty(batches):
            features = batch_matrix(batch, FEATURES)
            parts = [
                invoke_projection(client, endpoint_name, features[start : start + batch_size])
                for start in range(0, len(features), batch_size)
            ]
            yield projected_batch(batch_labels(batch), np.concatenate(parts))

    return dense.mapInArrow(project_batches, PROJECTED_SCHEMA)


def _recordio_writer() -> Callable[[BinaryIO, np.ndarray, np.ndarray], None]:
    """Resolved on the driver and shipped in the closure that runs on the executors."""
    from clusterflow.formats.recordio import write_recordio_dense

    return write_recordio_dense


def to_partition_files(
    frame: DataFrame, column: str, shards_uri: str, parquet_uri: str | None = None
) -> DataFrame:
    """Each non-empty partition writes `<shards_uri>/part-NNNNN.pbr` (NNNNN = partition index): `column`
    (array<float>) under features["values"], the label under label["values"]; with `parquet_uri`, also
    `<parquet_uri>/part-NNNNN.parquet` holding `(label, column)`. Reports `(shard, rows)` per partition."""
    write_rows = _recordio_writer()

    def write_partition(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        remaining = _non_empty(batches)
        first = next(remaining, None)
        if first is None:
            return
        context = TaskContext.get()
        partition = context.partitionId() if context else 0
        rows = 0
        with ExitStack() as files:
            shard = files.enter_context(open_part(shards_uri, part_name(partition)))
            table = None
            if parquet_uri is not None:
                handle = files.enter_context(open_part(parquet_uri, part_name(partition, ".parquet")))
                table = files.enter_context(pq.ParquetWriter(handle, first.select([LABEL, column]).schema))
            for batch in chain([first], remaining):
                write_rows(shard, batch_matrix(batch, column), batch_labels(batch))
                if table is not None:
                    table.write_batch(batch.select([LABEL, column]))
                rows += batch.num_rows
        yield pa.RecordBatch.from_pydict({"shard": [part_name(partition)], "rows": [rows]})

    return frame.mapInArrow(write_partition, SHARD_REPORT_SCHEMA)
