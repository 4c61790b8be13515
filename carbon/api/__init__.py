"""The HTTP API: create_app(settings) builds the FastAPI service."""

from carbon.api.app import create_app

__all__ = ["create_app"]
