"""clusterflow data commands."""

import click

COMMANDS: list[click.Command] = []
