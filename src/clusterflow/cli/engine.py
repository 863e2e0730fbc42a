"""clusterflow engine commands."""

import click

COMMANDS: list[click.Command] = []
