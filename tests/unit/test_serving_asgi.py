"""The plain-ASGI scoring route: which requests it takes, how it reads bodies, what it answers.

The replica's real handler is exercised end to end in tests/integration/test_serving.py; here a
FastAPI app with a recording handler pins down the dispatch and the body/limit rules."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from raylake.serving._asgi import InvocationsFirst, is_invocation, read_body
from raylake.serving._protocol import BadRequest


def _app(limit: int = 100) -> tuple[FastAPI, list[tuple[dict, bytes]]]:
    seen: list[tuple[dict, bytes]] = []
    app = FastAPI()

    @app.post("/invocations")
    def slow_route() -> dict:  # what FastAPI would answer without the middleware
        return {"via": "fastapi"}

    @app.get("/health")
    def health() -> dict:
        return {"via": "fastapi"}

    async def invoke(headers: Mapping[str, str], read: Any) -> tuple[int, bytes, dict]:
        try:
            body = await read(limit)
        except BadRequest as exc:
            return exc.status, exc.error_code.encode(), {}
        seen.append((dict(headers), body))
        return 200, b'{"via": "asgi"}', {"X-Raylake-Model-Version": "3"}

    app.add_middleware(InvocationsFirst)
    app.state.invoke = invoke
    return app, seen


def test_invocations_go_to_the_handler_everything_else_to_fastapi() -> None:
    app, seen = _app()
    client = TestClient(app)
    r = client.post("/invocations", content=b'{"x": 1}', headers={"Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json() == {"via": "asgi"}
    assert r.headers["x-raylake-model-version"] == "3"
    assert r.headers["content-type"] == "application/json"
    assert int(r.headers["content-length"]) == len(r.content)
    assert seen[0][1] == b'{"x": 1}' and seen[0][0]["content-type"] == "text/csv"
    assert client.get("/health").json() == {"via": "fastapi"}
    assert client.get("/invocations").status_code == 405  # GET: FastAPI's answer
    assert len(seen) == 1


def test_without_a_handler_fastapi_answers() -> None:
    app, _ = _app()
    del app.state.invoke
    assert TestClient(app).post("/invocations", json={}).json() == {"via": "fastapi"}


def test_over_the_limit_is_413_whether_declared_or_streamed() -> None:
    app, seen = _app(limit=10)
    client = TestClient(app)
    r = client.post("/invocations", content=b"x" * 11)
    assert (r.status_code, r.content) == (413, b"TOO_LARGE")

    def chunks():  # no content-length: the size is only known while reading
        yield b"x" * 6
        yield b"x" * 6

    r = client.post("/invocations", content=chunks())
    assert (r.status_code, r.content) == (413, b"TOO_LARGE")
    assert client.post("/invocations", content=b"x" * 10).status_code == 200
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("path", "root", "method", "expected"),
    [
        ("/endpoints/a/invocations", "/endpoints/a", "POST", True),
        ("/invocations", "", "POST", True),
        ("/endpoints/a/invocations/", "/endpoints/a", "POST", False),
        ("/endpoints/a/x/invocations", "/endpoints/a", "POST", False),
        ("/endpoints/a/invocations", "/endpoints/a", "GET", False),
        ("/other/invocations", "/endpoints/a", "POST", False),
    ],
)
def test_is_invocation(path: str, root: str, method: str, expected: bool) -> None:
    scope = {"type": "http", "method": method, "path": path, "root_path": root}
    assert is_invocation(scope) is expected


def test_a_client_gone_mid_body_is_a_bad_request() -> None:
    messages = iter(
        [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> dict:
        return next(messages)

    with pytest.raises(BadRequest, match="disconnected"):
        asyncio.run(read_body(receive, {}, 100))
