"""clusterflow engine commands: `train` (a local SageMaker training job) and `endpoint invoke`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from clusterflow.errors import ClusterflowError

F = TypeVar("F", bound=Callable[..., Any])
ALGORITHMS = click.Choice(["pca", "kmeans"])


class UserError(click.ClickException):
    """A ClusterflowError shown as `Error: <reason>` on stderr with exit status 2."""

    exit_code = 2


def user_errors(command: F) -> F:
    """Turn ClusterflowError (bad data, hyperparameter, request, artifact) into exit 2 with its message."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ClusterflowError as exc:
            raise UserError(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


def channel_files(path: Path) -> list[Path]:
    """A file, or every non-hidden file under a directory (like an S3 prefix), sorted by path."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ClusterflowError(f"{path}: no such file or directory")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ClusterflowError(f"{path}: the directory holds no files")
    return files


def parse_assignments(items: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ClusterflowError(f"hyperparameter '{item}' must be written name=value")
        values[name.strip()] = value
    return values


@click.command()
@click.option("--algorithm", type=ALGORITHMS, required=True, help="SageMaker built-in algorithm.")
@click.option("--train", "train_path", type=click.Path(path_type=Path), required=True, help="File or dir")
@click.option("--test", "test_path", type=click.Path(path_type=Path), help="Optional test channel.")
@click.option(
    "--content-type",
    default="application/x-recordio-protobuf",
    show_default=True,
    help="application/x-recordio-protobuf or text/csv;label_size=0.",
)
@click.option(
    "--hyperparameters", "-H", "hyperparameters", multiple=True, help="name=value (repeat, or list after it)."
)
@click.argument("more_hyperparameters", nargs=-1, metavar="[NAME=VALUE]...")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="model.tar.gz to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed")
@user_errors
def train(
    algorithm: str,
    train_path: Path,
    test_path: Path | None,
    content_type: str,
    hyperparameters: tuple[str, ...],
    more_hyperparameters: tuple[str, ...],
    out: Path,
    seed: int,
) -> None:
    """Run a local SageMaker PCA or K-Means training job and write its model.tar.gz."""
    from clusterflow.engine.training import run_training_job

    channels = {"train": channel_files(train_path)}
    if test_path is not None:
        channels["test"] = channel_files(test_path)
    values = parse_assignments(hyperparameters + more_hyperparameters)
    run_training_job(algorithm, channels, content_type, values, out, log=click.echo, seed=seed)


@click.group()
def endpoint() -> None:
    """Answer endpoint requests locally, as a SageMaker endpoint would."""


@endpoint.command()
@click.option("--algorithm", type=ALGORITHMS, required=True)
@click.option("--model", "model_path", type=click.Path(path_type=Path), required=True, help="model.tar.gz")
@click.option("--content-type", required=True, help="text/csv, application/json[lines] or recordio-protobuf")
@click.option("--accept", default=None, help="Response type (JSON when absent or */*).")
@user_errors
def invoke(algorithm: str, model_path: Path, content_type: str, accept: str | None) -> None:
    """Read the request body on stdin and write the endpoint's response body on stdout."""
    from clusterflow.artifacts.model import load_model
    from clusterflow.hosting import invoke_endpoint

    if not model_path.is_file():
        raise ClusterflowError(f"{model_path}: no such model file")
    model = load_model(model_path, algorithm)
    body = click.get_binary_stream("stdin").read()
    response, _ = invoke_endpoint(model, body, content_type, accept)
    stdout = click.get_binary_stream("stdout")
    stdout.write(response)
    stdout.flush()


COMMANDS: list[click.Command] = [train, endpoint]
