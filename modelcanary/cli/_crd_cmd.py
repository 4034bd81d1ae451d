"""``modelcanary crd``: print the ModelRollout CRD generated from the spec models."""

from __future__ import annotations

import typer

from ..spec._crd import crd_yaml


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("crd")(crd)


def crd() -> None:
    """Print the ModelRollout CustomResourceDefinition (YAML) generated from the spec."""
    typer.echo(crd_yaml(), nl=False)
