"""``modelcanary convert``: Flagger Canary <-> ModelRollout, with a note for every change."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape

from .._files import read_text
from ..errors import SpecError, SpecIssue
from ..spec import load_documents, parse_rollout_yaml
from ._common import err_console, guarded


class Format(StrEnum):
    """Formats modelcanary converts from/to."""

    flagger = "flagger"


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("convert")(convert)


@guarded
def convert(
    file: str = typer.Argument(..., help="Input YAML file, or - for standard input."),
    from_: Format | None = typer.Option(
        None,
        "--from",
        help="Convert FROM this format (a Canary, MetricTemplates allowed) to a ModelRollout.",
    ),
    to: Format | None = typer.Option(None, "--to", help="Convert a ModelRollout TO this format."),
    provider: str | None = typer.Option(
        None,
        "--provider",
        help="Router provider for a Canary without spec.provider (Flagger's -mesh-provider).",
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write here instead of stdout."
    ),
) -> None:
    """Convert a Flagger Canary to a ModelRollout (--from flagger) or back (--to flagger).

    Every field that is dropped, approximated or defaulted is reported on stderr; what cannot
    be represented at all is an error (exit 2) naming the field.
    """
    from ..convert import from_flagger, to_flagger  # lazy: only this command needs it

    if (from_ is None) == (to is None):
        raise SpecError(
            SpecIssue(
                "--from/--to",
                "give exactly one of --from flagger or --to flagger",
                "e.g. modelcanary convert --from flagger canary.yaml",
            )
        )
    text, source = read_text(file)
    if from_ is not None:
        result = from_flagger(
            load_documents(text, source=source), default_provider=provider, source=source
        )
    else:
        result = to_flagger(parse_rollout_yaml(text, source=source), source=source)
    import yaml  # lazy: `modelcanary --help` does not load PyYAML

    rendered = yaml.safe_dump_all(result.documents, sort_keys=False, width=100)
    for note in result.notes:
        err_console.print(f"[yellow]note[/]: {escape(note)}")
    if output is None:
        typer.echo(rendered, nl=False)
    else:
        output.write_text(rendered, encoding="utf-8")
        err_console.print(f"wrote {len(result.documents)} document(s) to {escape(str(output))}")
