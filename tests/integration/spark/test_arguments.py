"""The job's arguments exactly as Glue 5.0 and EMR Serverless pass them in sys.argv."""

from __future__ import annotations

import sys
import types

import pytest

from clusterflow.spark.arguments import JobArgumentError, parse_job_arguments, resolve_options

SCRIPT = "/tmp/glue-scripts/project.py"
# What Glue puts around the job's own DefaultArguments / Arguments.
GLUE_EXTRAS = [
    "--JOB_ID", "j_0123456789abcdef",
    "--JOB_RUN_ID", "jr_0123456789abcdef",
    "--job-bookmark-option", "job-bookmark-disable",
    "--JOB_NAME", "clusterflow-spark",
    "--TempDir", "s3://aws-glue-assets-123456789012-us-east-1/temporary/",
    "--enable-metrics", "true",
    "--enable-glue-datacatalog", "true",
]  # fmt: skip
PREPARE = [
    "--mode", "prepare",
    "--input_uri", "s3://data/incoming/train.libsvm.gz",
    "--num_features", "784",
    "--output_uri", "s3://data/runs/r1/staging/pca-train/",
]  # fmt: skip
PROJECT = [
    "--mode", "project",
    "--input_uri", "s3://data/incoming/train.libsvm",
    "--num_features", "784",
    "--output_uri", "s3://data/runs/r1/staging/kmeans-train/",
    "--pca_model_uri", "s3://data/runs/r1/models/pca/output/model.tar.gz",
    "--projections_uri", "s3://data/runs/r1/projections/",
]  # fmt: skip


def test_prepare_as_glue_passes_it() -> None:
    args = parse_job_arguments([SCRIPT, *GLUE_EXTRAS[:8], *PREPARE, *GLUE_EXTRAS[8:]])
    assert args.mode == "prepare"
    assert args.input_uri == "s3://data/incoming/train.libsvm.gz"
    assert args.num_features == 784
    assert args.output_uri == "s3://data/runs/r1/staging/pca-train/"
    assert args.pca_model_uri is None
    assert args.projection_engine == "artifact"


def test_project_as_emr_serverless_passes_it_with_equals_form() -> None:
    argv = [SCRIPT, *PROJECT[:-2], f"--projections_uri={PROJECT[-1]}", "--projection_engine=artifact"]
    args = parse_job_arguments(argv)
    assert args.mode == "project"
    assert args.projections_uri == "s3://data/runs/r1/projections/"
    assert args.pca_model_uri == "s3://data/runs/r1/models/pca/output/model.tar.gz"


def test_endpoint_engine_reads_endpoint_and_region() -> None:
    endpoint = ["--projection_engine", "endpoint", "--pca_endpoint_name", "cf-r1-pca"]
    argv = [
        SCRIPT,
        *GLUE_EXTRAS,
        *PROJECT,
        *endpoint,
        "--region",
        "eu-west-1",
        "--endpoint_batch_size",
        "250",
    ]
    args = parse_job_arguments(argv)
    assert args.projection_engine == "endpoint"
    assert (args.pca_endpoint_name, args.region) == ("cf-r1-pca", "eu-west-1")
    assert args.endpoint_batch_size == 250


def test_endpoint_engine_needs_no_model_artifact() -> None:
    without_model = [*PROJECT[:8], *PROJECT[10:]]
    endpoint = ["--projection_engine", "endpoint", "--pca_endpoint_name", "e", "--region", "r"]
    assert parse_job_arguments([SCRIPT, *without_model, *endpoint]).pca_model_uri is None
    with pytest.raises(JobArgumentError, match="--pca_model_uri"):
        parse_job_arguments([SCRIPT, *without_model])


def test_glue_flag_without_value_is_ignored() -> None:
    args = parse_job_arguments([SCRIPT, "--enable-continuous-cloudwatch-log", *PREPARE, "--enable-spark-ui"])
    assert args.mode == "prepare"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        ([SCRIPT, *PREPARE[:2], *PREPARE[4:]], "--input_uri"),
        ([SCRIPT, *PROJECT[:-2]], "--projections_uri"),
        ([SCRIPT, *PROJECT, "--projection_engine", "endpoint", "--region", "r"], "--pca_endpoint_name"),
        ([SCRIPT, *GLUE_EXTRAS], "--mode"),
    ],
)
def test_missing_argument_is_named(argv: list[str], named: str) -> None:
    with pytest.raises(JobArgumentError, match=named):
        parse_job_arguments(argv)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--num_features", "seven"), "--num_features must be a positive integer, got 'seven'"),
        (("--num_features", "0"), "--num_features must be a positive integer"),
        (("--mode", "train"), "--mode must be one of prepare, project; got 'train'"),
        (("--input_uri", " "), "--input_uri must not be empty"),
    ],
)
def test_invalid_value_is_named(change: tuple[str, str], message: str) -> None:
    argv = list(PREPARE)
    argv[argv.index(change[0]) + 1] = change[1]
    with pytest.raises(JobArgumentError, match=message):
        parse_job_arguments([SCRIPT, *argv])


def test_unknown_projection_engine_is_refused() -> None:
    with pytest.raises(JobArgumentError, match="--projection_engine must be one of artifact, endpoint"):
        parse_job_arguments([SCRIPT, *PROJECT, "--projection_engine", "lambda"])


def test_prefix_of_an_argument_is_not_taken_for_it() -> None:
    # argparse would otherwise accept --input for --input_uri; Glue never abbreviates.
    with pytest.raises(JobArgumentError, match="--input_uri"):
        parse_job_arguments(
            [SCRIPT, "--mode", "prepare", "--input", "x", "--num_features", "3", "--output_uri", "o"]
        )


def test_glue_resolver_is_used_when_awsglue_is_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], list[str]]] = []

    def fake_resolver(args: list[str], options: list[str]) -> dict[str, str]:
        calls.append((args, options))
        return {"mode": "from-glue", "job_bookmark_option": "job-bookmark-disable"}

    package = types.ModuleType("awsglue")
    utils = types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = fake_resolver  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "awsglue", package)
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)
    resolved = resolve_options([SCRIPT, "--mode", "prepare"], ["mode"])
    assert resolved["mode"] == "from-glue"
    assert calls == [([SCRIPT, "--mode", "prepare"], ["mode"])]
