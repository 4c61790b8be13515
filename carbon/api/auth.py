"""Bearer API keys on every /v1 route: the key names the tenant each query is scoped by, and its role."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from carbon.api.state import AppState, app_state
from carbon.core.access import ApiKey, Role
from carbon.errors import AuthenticationError
from carbon.services.keys import Caller, authenticate, require_role

__all__ = ["Admin", "KeyGate", "Reader", "Submitter", "caller_for"]

GATED = "carbon.api_key"  # where KeyGate leaves the key it admitted, for the route's role check

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
            state.limiter.check(found.key_id)
        elif (gated := request.scope.get(GATED)) is not None:
            found = require_role(gated, role)  # authenticated and rate-checked by KeyGate
        else:
            token = credentials.credentials if credentials is not None else None
            found = require_role(_admitted(state, token, _address(request.scope)), role)
        request.state.tenant = found.tenant  # for the access log line
        request.state.key_prefix = found.key_prefix
        return found

    caller.__name__ = f"{role.value}_caller"
    return caller


def _admitted(state: AppState, token: str | None, address: str) -> ApiKey:
    """The key, within its rate, or 401; an address that keeps sending no key or bad ones gets 429 instead
    (valid keys from it are never held back: only failures draw on its bucket)."""
    try:
        key = authenticate(state.keys, state.key_secret, token)
    except AuthenticationError:
        state.failures.check(address)
        raise
    state.limiter.check(key.key_id)
    return key


def _address(scope: Scope) -> str:
    """The peer's address (a trusted proxy's X-Forwarded-For has already replaced it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _bearer_token(scope: Scope) -> str | None:
    """The credentials of an `Authorization: Bearer <key>` header, as HTTPBearer reads them."""
    header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = header.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


class KeyGate:
    """In keys mode, a request under /v1 without a valid key, or past its key's rate, is answered from its
    headers (401 or 429, closing the connection) before it takes a concurrency slot or sends a byte of its
    body: slow clients without a key can hold nothing. The key found is left for the route's role check."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        state: AppState = scope["app"].state.carbon
        if state.settings.auth != "open":
            try:
                key = await run_in_threadpool(_admitted, state, _bearer_token(scope), _address(scope))
            except Exception as error:  # rendered by the app's own handlers, as if a route had raised it
                refusal = await _handled(scope, error)
                refusal.headers["Connection"] = "close"  # the body is never read
                await refusal(scope, receive, send)
                return
            scope[GATED] = key
        await self.app(scope, receive, send)


async def _handled(scope: Scope, error: Exception) -> Response:
    """The response of the app's exception handler for `error` (the closest class registered)."""
    handlers = scope["app"].exception_handlers
    handler = next((handlers[cls] for cls in type(error).__mro__ if cls in handlers), None)
    if handler is None:
        raise error
    response = handler(Request(scope), error)
    return await response if inspect.isawaitable(response) else response  # type: ignore[no-any-return]


Reader = Annotated[Caller, Depends(caller_for(Role.READ))]
Submitter = Annotated[Caller, Depends(caller_for(Role.SUBMIT))]
Admin = Annotated[Caller, Depends(caller_for(Role.ADMIN))]
