"""clusterflow local commands: `local up`, `local run`, and the top-level `cluster` and `cleanup`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clusterflow.errors import ClusterflowError

ENDPOINT_POLICIES = ("CREATE_ON_CONSTRUCT", "CREATE_ON_TRANSFORM", "DO_NOT_CREATE")


@click.group("local")
def local_group() -> None:
    """The whole pipeline on this machine: moto + our seams, deployed from template.yaml."""


@local_group.command("up")
@click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=5000,
    show_default=True,
    help="Port on 127.0.0.1 (0 = any free port).",
)
@click.option("--k", type=click.IntRange(min=2), default=None, help="K for runs (default: the template's).")
@click.option("--components", type=click.IntRange(min=1), default=None, help="PCA components for runs.")
@click.option("--endpoint-policy", type=click.Choice(ENDPOINT_POLICIES), default=None)
@click.option("--projection-engine", type=click.Choice(("artifact", "endpoint")), default=None)
@click.option(
    "--work-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where the local cloud keeps its files and log (default: a temporary directory).",
)
def up_command(
    port: int,
    k: int | None,
    components: int | None,
    endpoint_policy: str | None,
    projection_engine: str | None,
    work_dir: Path | None,
) -> None:
    """Serve the local cloud on 127.0.0.1 for `aws --endpoint-url` and boto3 (Ctrl-C stops it).

    Upload a .libsvm file under incoming/ of the printed bucket and the pipeline starts, as on AWS.
    """
    from clusterflow.local.run import default_template, template_overrides
    from clusterflow.local.server import serve

    overrides = template_overrides(
        k=k, components=components, endpoint_policy=endpoint_policy, projection_engine=projection_engine
    )
    serve(default_template(), port=port, work_dir=work_dir, parameter_overrides=overrides, echo=click.echo)


@local_group.command("run")
@click.option("--train", "train", type=click.Path(path_type=Path, dir_okay=False), required=True)
@click.option("--test", "test", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--k", type=click.IntRange(min=2), default=10, show_default=True)
@click.option("--components", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("out/run"))
@click.option(
    "--fail-at", "fail_at", multiple=True, metavar="STATE", help="Make this Task state fail always."
)
@click.option("--endpoint-policy", type=click.Choice(ENDPOINT_POLICIES), default=None)
@click.option("--projection-engine", type=click.Choice(("artifact", "endpoint")), default=None)
@click.option("--poll-seconds", type=click.IntRange(min=0), default=1, show_default=True)
@click.option(
    "--timeout-seconds",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="Give up on the execution after this long; every poll loop may last as long.",
)
# moto's canned SageMaker/Glue instead of our engine and Spark: for fast control-flow checks only.
@click.option("--engines/--no-engines", default=True, hidden=True)
@click.option("--retry-time-scale", type=click.FloatRange(min=0), default=1.0, hidden=True)
@click.pass_context
def run_command(
    ctx: click.Context,
    train: Path,
    test: Path | None,
    k: int,
    components: int,
    out_dir: Path,
    fail_at: tuple[str, ...],
    endpoint_policy: str | None,
    projection_engine: str | None,
    poll_seconds: int,
    timeout_seconds: int,
    engines: bool,
    retry_time_scale: float,
) -> None:
    """Upload TRAIN, let the deployed trigger run the pipeline, cluster the test set, report, clean up.

    Exit 0: succeeded and nothing left behind; 1: the execution failed (error in metrics.json) or
    something leaked; 2: the input was refused (the message names the defect and line).
    """
    from clusterflow.local.run import RunOptions, run_local

    options = RunOptions(
        train=train,
        test=test,
        out_dir=out_dir,
        k=k,
        components=components,
        fail_at=fail_at,
        endpoint_policy=endpoint_policy,
        projection_engine=projection_engine,
        poll_seconds=poll_seconds,
        timeout_s=float(timeout_seconds),
        engines=engines,
        retry_time_scale=retry_time_scale,
    )
    try:
        outcome = run_local(options)
    except ClusterflowError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    ctx.exit(outcome.exit_code)


@click.command("cluster")
@click.option(
    "--model-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    required=True,
    help="A run's output directory (holding pca/model.tar.gz and kmeans/model.tar.gz).",
)
@click.option("--png", "png", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None)
@click.option(
    "--pixels", "pixels", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None
)
@click.pass_context
def cluster_command(ctx: click.Context, model_dir: Path, png: Path | None, pixels: Path | None) -> None:
    """Cluster a 28x28 image (PNG) or rows of 784 pixel values (CSV) with a run's models, artifact mode."""
    from clusterflow.local.run import cluster_files

    if (png is None) == (pixels is None):
        raise click.UsageError("give exactly one of --png FILE or --pixels CSV")
    try:
        for line in cluster_files(model_dir, png=png, pixels=pixels):
            click.echo(line)
    except ClusterflowError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)


@click.command("cleanup")
@click.option("--run-id", required=True, help="The execution name of the run to clean up.")
@click.option(
    "--bucket", default=None, help="The data bucket (default: from the stack's outputs or local up)."
)
@click.option("--endpoint-url", default=None, help="e.g. the URL `clusterflow local up` printed.")
@click.option("--region", default=None)
@click.option(
    "--resource-prefix",
    default="clusterflow",
    show_default=True,
    help="The stack's ResourcePrefix parameter.",
)
@click.pass_context
def cleanup_command(
    ctx: click.Context,
    run_id: str,
    bucket: str | None,
    endpoint_url: str | None,
    region: str | None,
    resource_prefix: str,
) -> None:
    """Delete what a run left (endpoints, configs, models, staging data), then list what remains."""
    from clusterflow.local.run import cleanup_by_run_id

    try:
        leaked = cleanup_by_run_id(
            run_id, bucket=bucket, endpoint_url=endpoint_url, region=region, prefix=resource_prefix
        )
    except ClusterflowError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    _report_cleanup(ctx, run_id, leaked)


def _report_cleanup(ctx: click.Context, run_id: str, leaked: list[Any]) -> None:
    if leaked:
        click.echo(f"run {run_id}: still left after cleanup: {', '.join(map(str, leaked))}", err=True)
        ctx.exit(1)
    click.echo(f"run {run_id}: cleaned up, nothing left")


COMMANDS: list[click.Command] = [local_group, cluster_command, cleanup_command]
