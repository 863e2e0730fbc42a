"""The two modes of the Spark job as extract -> transform -> load, given a session and parsed arguments."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from clusterflow.artifacts.model import PCAModel, load_pca_model
from clusterflow.errors import DataFormatError, ModelArtifactError
from clusterflow.spark import transforms
from clusterflow.spark.arguments import JobArgumentError, JobArguments
from clusterflow.spark.failures import input_errors
from clusterflow.spark.storage import StorageError, delete_parts, list_parts, read_bytes


@dataclass(frozen=True)
class JobSummary:
    mode: str
    rows: int
    shards: list[str]


def extract_dense(spark: SparkSession, args: JobArguments) -> DataFrame:
    dense = transforms.to_dense(transforms.read_libsvm(spark, args.input_uri, args.num_features))
    if args.num_shards is not None:
        return dense.repartition(args.num_shards)
    return dense


def load_partition_files(
    rows: DataFrame, column: str, shards_uri: str, parquet_uri: str | None
) -> tuple[int, list[str]]:
    """Write one shard (and Parquet part) per non-empty partition, replacing an earlier attempt's, and check
    that they all landed. Returns (rows written, shard names)."""
    delete_parts(shards_uri)
    if parquet_uri is not None:
        delete_parts(parquet_uri, ".parquet")
    reports = transforms.to_partition_files(rows, column, shards_uri, parquet_uri).collect()
    written = sorted(report["shard"] for report in reports)
    found = list_parts(shards_uri)
    if found != written or len(set(written)) != len(written):
        raise StorageError(f"{shards_uri}: wrote shards {written} but found {found}")
    if parquet_uri is not None:
        parquet_parts = list_parts(parquet_uri, ".parquet")
        if len(parquet_parts) != len(written):
            raise StorageError(f"{parquet_uri}: wrote {len(written)} Parquet parts but found {parquet_parts}")
    return sum(int(report["rows"]) for report in reports), written


def _require_rows(rows: int, args: JobArguments) -> None:
    if rows == 0:
        raise DataFormatError("no rows: the input holds no libsvm lines", source=args.input_uri)


def run_prepare(spark: SparkSession, args: JobArguments) -> JobSummary:
    """libsvm -> dense float32 RecordIO-protobuf shards (PCA's training channel)."""
    with input_errors(args.input_uri, args.num_features):
        rows, shards = load_partition_files(
            extract_dense(spark, args), transforms.FEATURES, args.output_uri, None
        )
    _require_rows(rows, args)
    return JobSummary(mode="prepare", rows=rows, shards=shards)


def _pca_model(args: JobArguments) -> PCAModel:
    if not args.pca_model_uri:
        raise JobArgumentError("--projection_engine artifact needs --pca_model_uri")
    model = load_pca_model(read_bytes(args.pca_model_uri))
    if model.feature_dim != args.num_features:
        raise ModelArtifactError(
            f"{args.pca_model_uri}: PCA model has feature_dim {model.feature_dim}, "
            f"but --num_features is {args.num_features}"
        )
    return model


def project(
    dense: DataFrame, args: JobArguments, client_factory: transforms.RuntimeClientFactory | None
) -> DataFrame:
    if args.projection_engine == "artifact":
        return transforms.project_with_model(dense, _pca_model(args))
    if not args.pca_endpoint_name or not args.region:
        raise JobArgumentError("--projection_engine endpoint needs --pca_endpoint_name and --region")
    return transforms.project_with_endpoint(
        dense,
        args.pca_endpoint_name,
        args.region,
        batch_size=args.endpoint_batch_size,
        client_factory=client_factory or transforms.default_runtime_client,
    )


def run_project(
    spark: SparkSession, args: JobArguments, client_factory: transforms.RuntimeClientFactory | None = None
) -> JobSummary:
    """libsvm + PCA -> projection shards (K-Means's training channel) and (label, projection) Parquet."""
    if not args.projections_uri:
        raise JobArgumentError("--mode project needs --projections_uri")
    projected = project(extract_dense(spark, args), args, client_factory)
    with input_errors(args.input_uri, args.num_features):
        rows, shards = load_partition_files(
            projected, transforms.PROJECTION, args.output_uri, args.projections_uri
        )
    _require_rows(rows, args)
    return JobSummary(mode="project", rows=rows, shards=shards)


def run(
    spark: SparkSession, args: JobArguments, client_factory: transforms.RuntimeClientFactory | None = None
) -> JobSummary:
    if args.mode == "prepare":
        return run_prepare(spark, args)
    return run_project(spark, args, client_factory)
