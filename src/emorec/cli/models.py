"""``emorec models list``: the packaged models with their card headlines."""
from __future__ import annotations

import json

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The packaged models and their cards.")


@app.command("list")
def list_models(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per model instead of a table."),
) -> None:
    """Packaged models: name, task, labels, headline accuracy (from the card) and licence.

    Example: emorec models list
    """
    from emorec.runtime import packaged_models

    for info in packaged_models():
        if as_json:
            typer.echo(json.dumps(info.to_dict(), ensure_ascii=False))
        else:
            typer.echo(info.headline())
