"""The `carbon` command line: factors, calculations, the ledger, API keys and the HTTP service."""

from __future__ import annotations

import typer

from carbon.cli.calculate import calculate_app
from carbon.cli.factors import factors_app
from carbon.cli.green import green_app
from carbon.cli.keys import keys_app
from carbon.cli.ledger import db_app, ingest, report
from carbon.cli.serve import serve

__all__ = ["app", "main"]

app = typer.Typer(help="Carbon accounting for online lending and green computing.", no_args_is_help=True)
app.add_typer(factors_app, name="factors")
app.add_typer(calculate_app, name="calculate")
app.command("ingest")(ingest)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.command("serve")(serve)
app.add_typer(green_app, name="green")
app.command("report")(report)


def main() -> None:
    """Console entry point."""
    app()
