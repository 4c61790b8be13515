"""/docs (Swagger UI) and /redoc from assets shipped in a package: they render where no CDN is reachable."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS", "install_docs"]

ASSETS = "/docs-assets"
_STATIC = Path(fastapi_offline.__file__).resolve().parent / "static"  # Swagger UI and ReDoc bundles, MIT
# ReDoc's sidebar shows a logo fetched from its vendor's CDN: an empty inline image takes its place.
_REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
_EMPTY_IMAGE = b"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"


def install_docs(app: FastAPI) -> None:
    """Serve the interactive documents and their scripts, styles and icon from this process only.

    The pages name the document and the assets by relative URLs, so they work behind a path prefix too.
    """

    @app.get(f"{ASSETS}/redoc.standalone.js", include_in_schema=False)
    async def redoc_script() -> Response:
        return Response(_redoc_script(), media_type="text/javascript")

    app.mount(ASSETS, StaticFiles(directory=_STATIC), name="docs-assets")
    title = app.title
    assets, openapi_url = ASSETS.lstrip("/"), "openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js", swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to the public validator either
        )  # fmt: skip

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url, title=f"{title} - ReDoc", redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png", with_google_fonts=False,
        )  # fmt: skip


@cache
def _redoc_script() -> bytes:
    """ReDoc's bundle with its one outside address (the logo) replaced."""
    return (_STATIC / "redoc.standalone.js").read_bytes().replace(_REDOC_LOGO, _EMPTY_IMAGE)
