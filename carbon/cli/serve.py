"""`carbon serve`: the HTTP service under uvicorn, draining requests on SIGTERM."""

from __future__ import annotations

import signal
from ipaddress import ip_address
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
from carbon.errors import CarbonError
from carbon.registry import load_registry
from carbon.settings import Settings, get_settings

__all__ = ["serve"]


def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (CARBON_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (CARBON_PORT).")] = None,
) -> None:
    """Check the factors, create or migrate the database, and serve the HTTP API."""
    with reported():
        settings = get_settings()
        host = host or settings.host
        refuse_open_beyond_loopback(settings, host)
        registry = load_registry(settings.factors_dir)
        application = create_app(settings, registry)
        ERR.print(f"carbon: serving on http://{host}:{port or settings.port} "
                  f"(factors {registry.current.id}, database {safe_url(settings.resolved_database_url)})",
                  markup=False)  # fmt: skip
    # uvicorn finishes in-flight requests on SIGTERM, then raises the signal again: exit 0 after that drain
    signal.signal(signal.SIGTERM, _drained)
    # our logging (JSON lines, one access line per request with its id) stays in place: no uvicorn config;
    # X-Forwarded-For is believed only from CARBON_TRUSTED_PROXIES (uvicorn would trust loopback by default)
    uvicorn.run(application, host=host, port=port or settings.port, log_config=None, access_log=False,
                timeout_graceful_shutdown=30, proxy_headers=bool(settings.trusted_proxies),
                forwarded_allow_ips=settings.trusted_proxies or None)  # fmt: skip


def refuse_open_beyond_loopback(settings: Settings, host: str) -> None:
    """Open mode serves anyone as a tenant with every role: only on loopback, unless explicitly allowed."""
    if settings.auth != "open" or settings.open_beyond_loopback or _loopback(host):
        return
    raise CarbonError(
        f"CARBON_AUTH=open answers every request without a key; it listens only on loopback, not {host}: "
        "use API keys, serve on 127.0.0.1, or set CARBON_OPEN_BEYOND_LOOPBACK=true"
    )


def _loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (a name may resolve anywhere; 0.0.0.0 is every interface)."""
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _drained(_signum: int, _frame: FrameType | None) -> None:
    """Exit 0: the graceful shutdown that SIGTERM asked for has completed."""
    raise SystemExit(0)
