"""The HTTP edge: the Host names the service answers for, and how long a request body may take to arrive.

Both act before a request holds anything: a wrong host is refused from its headers, and a body that
trickles in is cut off at a deadline of its own (408), apart from the handler's timeout, so that slow
clients cannot hold connections, memory or concurrency slots for as long as they like.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon.api.problems import problem

__all__ = ["AllowedHosts", "BodyDeadline", "BodyTimedOut"]

CLOSE = {"Connection": "close"}


class AllowedHosts:
    """Only requests whose Host is one the service is named by: `api.example.com`, `*.example.com` (its
    subdomains) or `*` (any); others get 400 problem+json. `exempt` paths (probes, which orchestrators call
    by address) answer any host."""

    def __init__(self, app: ASGIApp, hosts: Sequence[str], exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.any = "*" in hosts
        self.names = {host.lower() for host in hosts if not host.startswith("*.")}
        self.suffixes = tuple(host[1:].lower() for host in hosts if host.startswith("*."))
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any or scope["type"] != "http" or scope.get("path") in self.exempt or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        refusal = problem(400, "this service does not answer for the host named in the request",
                          slug="host-not-allowed", headers=CLOSE)  # fmt: skip
        await refusal(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        host = _host_name(dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1"))
        return bool(host) and (host in self.names or host.endswith(self.suffixes))


def _host_name(header: str) -> str:
    """The name in a Host header, without its port: `Api.Example:8443` -> `api.example`, `[::1]:80` ->
    `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1]
    return header.partition(":")[0]


class BodyTimedOut(HTTPException):
    """The body did not arrive in time: 408, and the connection is closed (the rest is never read)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body did not arrive within {seconds:g} s", headers=CLOSE)


class BodyDeadline:
    """A request body must arrive whole within `seconds` of the request's start, or the request gets 408
    problem+json and its connection is closed. A `streamed` path (an upload of up to gigabytes) has instead
    `seconds` between one piece of its body and the next.

    The deadline is enforced on the app's reads: a route that streams the body sees BodyTimedOut from its
    read (the exception handlers render it); one raised outside them is rendered here.
    """

    def __init__(self, app: ASGIApp, seconds: float, streamed: tuple[str, ...] = ()) -> None:
        self.app = app
        self.seconds = seconds
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        per_piece = scope.get("path") in self.streamed
        deadline = loop.time() + self.seconds
        complete = started = False

        async def timed_receive() -> Message:
            nonlocal complete, deadline
            if complete:
                return await receive()  # after the body: only a disconnect, waited for as long as it takes
            if per_piece:
                deadline = loop.time() + self.seconds
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut(self.seconds) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def noted_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed_receive, noted_send)
        except BodyTimedOut as error:
            if started:
                raise
            await problem(408, str(error.detail), slug="body-timeout", instance=scope.get("path"),
                          headers=CLOSE)(scope, receive, send)  # fmt: skip
