"""The `clusterflow` command. Each command group lives in its own module and registers itself here."""

from __future__ import annotations

import importlib
import sys

import click

from clusterflow.errors import ClusterflowError

# module name -> click object it exports as `command`; a module that is not there yet is skipped.
_COMMAND_MODULES = (
    "clusterflow.cli.engine",  # train, endpoint invoke
    "clusterflow.cli.data",  # data mnist-sample, data idx
    "clusterflow.cli.local",  # local up, local run, cluster, cleanup
    "clusterflow.cli.aws",  # commands for a deployed stack
)


@click.group()
@click.version_option(package_name="clusterflow")
def cli() -> None:
    """clusterflow: SageMaker PCA + K-Means, on AWS or whole on this machine."""


for _name in _COMMAND_MODULES:
    _module = importlib.import_module(_name)
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main() -> None:
    try:
        code = cli(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ClusterflowError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    sys.exit(code if isinstance(code, int) else 0)
