"""Bearer API keys on every /v1 route: the key names the tenant each query is scoped by, and its role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from carbon.api.state import app_state
from carbon.core.access import ApiKey, Role
from carbon.errors import AuthenticationError
from carbon.services.keys import Caller, authenticate, require_role

__all__ = ["Admin", "Reader", "Submitter", "caller_for"]

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="cbk_<prefix>_<secret>",
    description="An API key from `carbon keys create`, sent as `Authorization: Bearer <key>`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def caller_for(role: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None], Caller]:
    """A dependency that admits keys holding `role` (401 without a valid key, 403 without the role)."""

    def caller(request: Request, credentials: Credentials) -> Caller:
        state = app_state(request)
        if state.settings.auth == "open":
            found = Caller(state.settings.open_tenant, "open", "open")
        else:
            token = credentials.credentials if credentials is not None else None
            found = require_role(_authenticated(request, token), role)
        request.state.tenant = found.tenant  # for the access log line
        request.state.key_prefix = found.key_prefix
        state.limiter.check(found.key_id)
        return found

    caller.__name__ = f"{role.value}_caller"
    return caller


def _authenticated(request: Request, token: str | None) -> ApiKey:
    """The key, or 401; an address that keeps sending no key or bad ones gets 429 instead (valid keys from
    it are never held back: only failures draw on its bucket)."""
    state = app_state(request)
    try:
        return authenticate(state.keys, state.key_secret, token)
    except AuthenticationError:
        state.failures.check(request.client.host if request.client else "unknown")
        raise


Reader = Annotated[Caller, Depends(caller_for(Role.READ))]
Submitter = Annotated[Caller, Depends(caller_for(Role.SUBMIT))]
Admin = Annotated[Caller, Depends(caller_for(Role.ADMIN))]
