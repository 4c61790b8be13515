"""The `carbon` command line: factors, calculations, the ledger, API keys and the HTTP service."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated

import typer

from carbon.cli.calculate import calculate_app
from carbon.cli.factors import factors_app
from carbon.cli.green import green_app
from carbon.cli.keys import keys_app
from carbon.cli.ledger import db_app, ingest, report
from carbon.cli.serve import serve

__all__ = ["app", "main"]

app = typer.Typer(
    help="Carbon accounting for online lending and green computing.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: flags show as `--json`, not `--json <bool>`
)
app.add_typer(factors_app, name="factors")
app.add_typer(calculate_app, name="calculate")
app.command("ingest")(ingest)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.command("serve")(serve)
app.add_typer(green_app, name="green")
app.command("report")(report)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"carbon {version('carbon-ledger')}")
        raise typer.Exit()


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Carbon accounting for online lending and green computing."""


def main() -> None:
    """Console entry point."""
    app()
