"""clusterflow commands that act on a deployed AWS stack."""

import click

COMMANDS: list[click.Command] = []
