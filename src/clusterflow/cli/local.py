"""clusterflow local commands."""

import click

COMMANDS: list[click.Command] = []
