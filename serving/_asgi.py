"""The scoring route as plain ASGI: ``POST <endpoint>/invocations`` goes from the app's first
middleware straight to the replica, without FastAPI's routing, dependency solving, exception
middleware and ``Response`` objects (about a tenth of a replica's CPU in a py-spy profile at 16
clients of ``benchmarks/serving.py``). Every other request (describe, health, metrics, OpenAPI
docs) and the documented route itself stay with FastAPI; both paths run the same ``Invoke``
handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from raylake.serving._protocol import BadRequest

# (headers, read_body(limit)) -> (status, body, extra response headers)
Invoke = Callable[
    [Mapping[str, str], Callable[[int], Awaitable[bytes]]],
    Awaitable[tuple[int, bytes, dict[str, str]]],
]

ROUTE = "/invocations"


def too_large(limit: int) -> BadRequest:
    return BadRequest(f"the body is larger than {limit} bytes", 413, "TOO_LARGE")


def is_invocation(scope: dict[str, Any]) -> bool:
    """POST of the app's own ``/invocations`` (Serve passes the full path and its prefix)."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return False
    path, prefix = scope.get("path", ""), scope.get("root_path", "")
    return path.startswith(prefix) and path[len(prefix) :] == ROUTE


def headers_of(scope: dict[str, Any]) -> dict[str, str]:
    """Request headers, names lower-case (ASGI sends them so); a repeated one keeps the last."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", ())}


async def read_body(receive: Any, headers: Mapping[str, str], limit: int) -> bytes:
    """The whole body, refused with a 413 as soon as it is known to exceed ``limit``."""
    declared = headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("the client disconnected before the body ended")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(
    send: Any, status: int, body: bytes, content_type: str, extra: Mapping[str, str]
) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class InvocationsFirst:
    """ASGI middleware: invocations to the ``Invoke`` handler in the app's ``state.invoke``
    (set by the replica once it exists), anything else to the wrapped FastAPI stack."""

    def __init__(self, inner: Any, content_type: str = "application/json") -> None:
        self.inner = inner
        self.content_type = content_type

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        invoke: Invoke | None = (
            getattr(scope["app"].state, "invoke", None) if "app" in scope else None
        )
        if invoke is None or not is_invocation(scope):
            await self.inner(scope, receive, send)
            return
        headers = headers_of(scope)
        status, body, extra = await invoke(
            headers, lambda limit: read_body(receive, headers, limit)
        )
        await respond(send, status, body, self.content_type, extra)
