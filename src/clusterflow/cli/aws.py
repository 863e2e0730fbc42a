"""clusterflow commands that act on a deployed AWS stack (credentials and region from the usual AWS chain)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import click

from clusterflow.app.cleanup import SparkTargets, cleanup_run
from clusterflow.app.names import DEFAULT_PREFIX
from clusterflow.app.packaging import publish


@click.group("aws")
def aws_group() -> None:
    """Work with a deployed clusterflow stack."""


@aws_group.command("publish-package")
@click.option("--bucket", required=True, help="The stack's data bucket (output DataBucketName).")
@click.option(
    "--script",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("spark_jobs/project.py"),
    show_default=True,
    help="Spark entry point for EMR Serverless (Glue gets its copy from sam package).",
)
def publish_package(bucket: str, script: Path) -> None:
    """Upload the clusterflow package zip (Glue --extra-py-files) and the Spark script to artifacts/."""
    uris = publish(boto3.client("s3"), bucket, script)
    click.echo(json.dumps(uris, indent=2))


@aws_group.command("cleanup")
@click.option("--bucket", required=True, help="The stack's data bucket.")
@click.option("--run-id", required=True, help="The execution name of the run.")
@click.option(
    "--resource-prefix", default=DEFAULT_PREFIX, show_default=True, help="The stack's ResourcePrefix."
)
@click.option("--glue-job", default="", help="The stack's Glue job name, to stop the run's job runs.")
def cleanup(bucket: str, run_id: str, resource_prefix: str, glue_job: str) -> None:
    """Delete what a run left: its endpoints, configs, models, running jobs and staging data."""
    report = cleanup_run(
        boto3.client("s3"),
        boto3.client("sagemaker"),
        bucket=bucket,
        run_id=run_id,
        prefix=resource_prefix,
        close=True,
        spark=SparkTargets(glue=boto3.client("glue"), glue_job_name=glue_job) if glue_job else None,
    )
    click.echo(json.dumps(report.as_dict(), indent=2))


COMMANDS: list[click.Command] = [aws_group]
