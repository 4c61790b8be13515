"""`carbon serve`: the HTTP service under uvicorn, draining requests on SIGTERM."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from carbon.api import create_app
from carbon.cli.common import (
    ERR,
    reported,
    safe_url,
)
from carbon.registry import load_registry
from carbon.settings import get_settings

__all__ = ["serve"]


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (CARBON_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CARBON_PORT).")] = None,
) -> None:
    """Check the factors, create or migrate the database, and serve the HTTP API."""
    with reported():
        settings = get_settings()
        registry = load_registry(settings.factors_dir)
        application = create_app(settings, registry)
        ERR.print(f"carbon: serving on http://{host or settings.host}:{port or settings.port} "
                  f"(factors {registry.current.id}, database {safe_url(settings.resolved_database_url)})",
                  markup=False)  # fmt: skip
    # uvicorn finishes in-flight requests on SIGTERM, then raises the signal again: exit 0 after that drain
    signal.signal(signal.SIGTERM, _drained)
    # our logging (JSON lines, one access line per request with its id) stays in place: no uvicorn config
    uvicorn.run(application, host=host or settings.host, port=port or settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=30)  # fmt: skip


def _drained(_signum: int, _frame: FrameType | None) -> None:
    """Exit 0: the graceful shutdown that SIGTERM asked for has completed."""
    raise SystemExit(0)
