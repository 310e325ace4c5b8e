"""The feature retrieval HTTP API: Feast's ``POST /get-online-features`` on an OnlineReader.

Requests and answers have the JSON shape of Feast's own feature server, so Feast clients
(and anything written against ``feast serve``) work unchanged. What differs is the cost per
request: the body is parsed and checked by hand instead of through a pydantic model and
FastAPI's dependency machinery, SQLite reads run inline on the event loop (a local file read
of tens of microseconds costs less than a hop to the thread pool), and metrics are recorded by a
small ASGI middleware rather than a ``BaseHTTPMiddleware``. The pydantic models below still
describe the endpoint in the OpenAPI docs (``/docs``, ``/openapi.json``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from raylake.errors import (
    InvalidTokenError,
    OnlineRequestError,
    PermissionDeniedError,
    RaylakeError,
    TooManyEntitiesError,
    UnknownFeatureError,
)
from raylake.features._online_reader import DEFAULT_MAX_ENTITIES, OnlineReader

if TYPE_CHECKING:
    from raylake.features._api import Features
    from raylake.features._auth import FeatureAuth
    from raylake.governance.gate import Gate

_ROUTE = "/get-online-features"
_log = logging.getLogger(__name__)


class InvalidJSONError(OnlineRequestError):
    """Not JSON at all (answered 400, not 422)."""


_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class GetOnlineFeaturesRequest(BaseModel):
    """The request body of Feast's feature server (documentation; parsing is done by hand)."""

    entities: dict[str, list[Any]] = Field(
        description="entity join keys as columns, e.g. {'driver_id': [1001, 1002]}"
    )
    features: list[str] = Field(default=[], description="feature refs 'view:feature'")
    feature_service: str | None = Field(default=None, description="instead of 'features'")
    full_feature_names: bool = Field(default=False, description="name columns 'view__feature'")
    include_feature_view_version_metadata: bool = Field(
        default=False, description="add metadata.feature_view_metadata (names, versions)"
    )


class FeatureVector(BaseModel):
    values: list[Any]
    statuses: list[str]
    event_timestamps: list[str]


class ResponseMetadata(BaseModel):
    feature_names: list[str]
    feature_view_metadata: list[dict[str, Any]] | None = None


class GetOnlineFeaturesResponse(BaseModel):
    """One column per feature (entity columns first), one entry per entity row."""

    results: list[FeatureVector]
    metadata: ResponseMetadata


class ErrorResponse(BaseModel):
    error: str = Field(description="the kind of problem, e.g. UnknownFeatureError")
    detail: str = Field(description="what is wrong with the request")


def _error_body(kind: str, detail: str) -> bytes:
    return json.dumps({"error": kind, "detail": detail}).encode()


def _error(status: int, kind: str, detail: str) -> Response:
    return Response(_error_body(kind, detail), status_code=status, media_type="application/json")


# Most specific first: the status each named request error is answered with.
_STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (InvalidJSONError, 400),
    (TooManyEntitiesError, 413),
    (UnknownFeatureError, 404),
    (OnlineRequestError, 422),
)
_JSON_HEADERS = [(b"content-type", b"application/json")]
_CHALLENGE = {"WWW-Authenticate": "Bearer"}  # with every 401


class _Refused(Exception):
    """An auth refusal, answered as (status, JSON) like the other request errors."""

    def __init__(self, status: int, payload: bytes) -> None:
        self.status, self.payload = status, payload


class _Retrieval:
    """Answers one ``/get-online-features`` body: (status, JSON bytes). Shared by both paths."""

    def __init__(self, reader: OnlineReader, auth: FeatureAuth | None = None) -> None:
        self.reader = reader
        self.inline = not reader.blocking_io
        self.max_body = 1_000_000 + 1_000 * reader.max_entities
        self.auth = auth  # None with auth off: no check at all, not even a header lookup

    async def answer(self, body: bytes, authorization: str | None = None) -> tuple[int, bytes]:
        try:
            if len(body) > self.max_body:
                return 413, self._too_big(len(body))
            if self.auth is not None:  # 401 before the body is even parsed
                await self._authenticate(authorization)
            args = _parse(body)
            if self.auth is not None:
                await self._authorize(authorization, args[0])
            if self.inline:
                result = self.reader.read(*args)
            else:
                result = await run_in_threadpool(self.reader.read, *args)
            return 200, json.dumps(result, allow_nan=False).encode()
        except OnlineRequestError as exc:
            code = next(code for kind, code in _STATUSES if isinstance(exc, kind))
            return code, _error_body(type(exc).__name__, str(exc))
        except _Refused as exc:
            return exc.status, exc.payload
        except (OSError, ConnectionError, TimeoutError) as exc:  # store unreachable (Redis)
            _log.warning("online store read failed: %s", exc)
            return 503, _error_body("OnlineStoreUnavailable", str(exc))
        except Exception as exc:  # a bug, not the client's fault: say so in JSON, keep serving
            _log.exception("feature retrieval failed")
            return 500, _error_body(type(exc).__name__, str(exc))

    async def _authenticate(self, authorization: str | None) -> None:
        gate = self.auth.gate  # type: ignore[union-attr]
        if gate.cached(authorization, "SELECT", "feature_view", ()) is None:
            await self._gate_call(gate.authenticate, authorization)

    async def _authorize(self, authorization: str | None, features: list[str] | str) -> None:
        from raylake.features._auth import ACTION

        auth = self.auth
        views = auth.views(features)  # type: ignore[union-attr]
        gate = auth.gate  # type: ignore[union-attr]
        if gate.cached(authorization, "SELECT", "feature_view", views) is None:
            await self._gate_call(
                gate.check, authorization, ACTION, "SELECT", "feature_view", views
            )

    @staticmethod
    async def _gate_call(fn: Callable, *args: Any) -> None:
        # Cache misses query the catalog database (and write audit rows): off the event loop.
        try:
            await run_in_threadpool(fn, *args)
        except InvalidTokenError:
            from raylake.governance.gate import UNAUTHORIZED

            raise _Refused(401, _error_body("InvalidTokenError", UNAUTHORIZED)) from None
        except PermissionDeniedError as exc:
            raise _Refused(403, _error_body("PermissionDeniedError", str(exc))) from None
        except RaylakeError as exc:  # e.g. a view name governance cannot name
            raise _Refused(422, _error_body(type(exc).__name__, str(exc))) from None
        except Exception as exc:  # the catalog database is unreachable: not the client's fault
            _log.warning("auth check failed: %s", exc)
            raise _Refused(503, _error_body("AuthUnavailable", str(exc))) from None

    def _too_big(self, size: int) -> bytes:
        detail = f"request body of {size} bytes is over the {self.max_body} byte limit"
        return _error_body("TooManyEntitiesError", detail)

    async def asgi(self, receive: Callable, send: Callable, scope: dict | None = None) -> int:
        """Serve the request straight from ASGI messages (no routing, no Request object)."""
        authorization = None
        if self.auth is not None and scope is not None:
            authorization = _header(scope, b"authorization")
        chunks = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 499
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.max_body:  # past the limit stop buffering; answer() says 413
                chunks.append(chunk)
            more = message.get("more_body", False)
        if size > self.max_body:
            status, payload = 413, self._too_big(size)
        else:
            status, payload = await self.answer(b"".join(chunks), authorization)
        headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        return status


class _Metrics:
    """Request count, errors and latency per endpoint, in the app's own Prometheus registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "raylake_feature_server_requests",
            "HTTP requests",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.errors = Counter(
            "raylake_feature_server_errors",
            "HTTP requests answered 4xx or 5xx",
            ["endpoint"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "raylake_feature_server_latency_seconds",
            "request latency",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.known = {_ROUTE, "/health", "/metrics", "/docs", "/openapi.json"}
        self._children: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
        self._record(_ROUTE, 200, None)  # the main series exist (at 0) from the start

    def _record(self, path: str, status: int, seconds: float | None) -> None:
        # Labelled children are looked up once per (endpoint, status): .labels() is not free.
        label = path if path in self.known else "other"
        children = self._children.get((label, status))
        if children is None:
            children = self._children[(label, status)] = (
                self.latency.labels(label),
                self.requests.labels(label, str(status)),
                self.errors.labels(label) if status >= 400 else None,
            )
        latency, requests, errors = children
        if seconds is None:
            return
        latency.observe(seconds)
        requests.inc()
        if errors is not None:
            errors.inc()

    def middleware(self, app: Callable, fast: _Retrieval | None = None) -> Callable:
        # A plain ASGI wrapper: BaseHTTPMiddleware would add a task and a stream per request.
        # POST /get-online-features goes straight to ``fast``; FastAPI serves everything else.
        async def wrapped(scope: dict, receive: Callable, send: Callable) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            path = scope["path"]
            status = [500]
            try:
                if fast is not None and path == _ROUTE and scope["method"] == "POST":
                    status[0] = await fast.asgi(receive, send, scope)
                else:

                    async def send_status(message: dict) -> None:
                        if message["type"] == "http.response.start":
                            status[0] = message["status"]
                        await send(message)

                    await app(scope, receive, send_status)
            finally:
                self._record(path, status[0], time.perf_counter() - start)

        return wrapped


def create_app(reader: OnlineReader, gate: Gate | None = None) -> FastAPI:
    """The FastAPI app serving ``reader`` (docs, health, metrics and the retrieval route).

    :func:`with_metrics` wraps it for running (``serve`` does): metrics, plus the fast path.
    With a ``gate`` (auth on), retrieval needs a bearer token with SELECT on every feature
    view read (401/403 JSON); ``/health``, ``/metrics`` and the docs stay open.
    """
    app = FastAPI(
        title="raylake feature retrieval API",
        description="Online features from the workspace's Feast repo, in the JSON of "
        "Feast's feature server (`POST /get-online-features`).",
        version="1",
    )
    metrics = _Metrics()
    auth = None
    if gate is not None:
        from raylake.features._auth import FeatureAuth

        auth = FeatureAuth(gate, reader)
    retrieval = _Retrieval(reader, auth)
    app.state.metrics = metrics
    app.state.retrieval = retrieval
    app.state.reader = reader

    @app.post(
        _ROUTE,
        response_model=GetOnlineFeaturesResponse,
        responses={
            400: {"model": ErrorResponse},
            401: {"model": ErrorResponse},
            403: {"model": ErrorResponse},
            404: {"model": ErrorResponse},
            413: {"model": ErrorResponse},
            422: {"model": ErrorResponse},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": GetOnlineFeaturesRequest.model_json_schema(
                            ref_template="#/components/schemas/{model}"
                        )
                    }
                },
            }
        },
        summary="Online feature values for entity rows (Feast feature server JSON)",
    )
    async def get_online_features(request: Request) -> Response:
        status, payload = await retrieval.answer(
            await request.body(), request.headers.get("authorization")
        )
        headers = _CHALLENGE if status == 401 else None
        return Response(payload, status_code=status, media_type="application/json", headers=headers)

    @app.get("/health", summary="200 when the registry and the online store answer")
    async def health() -> dict[str, str]:
        reader.store.registry.list_projects(allow_cache=True)
        return {"status": "ok"}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def validation(request: Request, exc: RequestValidationError) -> Response:
        return _error(422, "RequestValidationError", str(exc.errors()))

    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, "HTTPException", str(exc.detail))

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    return app


def _parse(body: bytes) -> tuple[list[str] | str, dict[str, list[Any]], bool, bool]:
    """Check a request body by hand (what pydantic would, at a fraction of the cost)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJSONError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidJSONError("request body must be a JSON object")
    unknown = set(data) - {
        "entities",
        "features",
        "feature_service",
        "full_feature_names",
        "include_feature_view_version_metadata",
    }
    if unknown:
        raise OnlineRequestError(f"unknown request field(s) {sorted(unknown)}")
    entities = data.get("entities")
    if not isinstance(entities, dict) or not entities:
        raise OnlineRequestError("'entities' must be an object of entity columns (lists)")
    full = data.get("full_feature_names", False)
    versions = data.get("include_feature_view_version_metadata", False)
    if not isinstance(full, bool) or not isinstance(versions, bool):
        raise OnlineRequestError(
            "'full_feature_names' and 'include_feature_view_version_metadata' must be booleans"
        )
    service, features = data.get("feature_service"), data.get("features") or []
    if service is not None:
        if not isinstance(service, str) or not service:
            raise OnlineRequestError("'feature_service' must be a name")
        if features:
            raise OnlineRequestError("give either 'features' or 'feature_service', not both")
        return service, entities, full, versions
    if not isinstance(features, list) or not features:
        raise OnlineRequestError("'features' must be a non-empty list of 'view:feature' refs")
    return features, entities, full, versions


def with_metrics(app: FastAPI) -> Callable:
    """The ASGI app to run: ``app`` inside the metrics middleware, with the fast path."""
    return app.state.metrics.middleware(app, app.state.retrieval)


def build(
    repo: Any, max_entities: int = DEFAULT_MAX_ENTITIES, gate: Gate | None = None
) -> Callable:
    """The ASGI app for a Feast repo path, a ``FeatureStore`` or an :class:`OnlineReader`."""
    reader = (
        repo if isinstance(repo, OnlineReader) else OnlineReader(repo, max_entities=max_entities)
    )
    return with_metrics(create_app(reader, gate))


def gate_of(facade: Features) -> Gate | None:
    """The workspace's auth gate for the API, or None with auth off (nothing is checked)."""
    if not facade.settings.auth:
        return None
    from raylake.governance.gate import Gate
    from raylake.governance.principals import Principals
    from raylake.governance.tokens import Tokens

    guard = facade.tables.guard
    return Gate(guard, Tokens(guard, Principals(guard)))


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def serve(
    facade: Features,
    host: str | None = None,
    port: int | None = None,
    *,
    max_entities: int = DEFAULT_MAX_ENTITIES,
) -> None:
    """Serve the workspace's online features over HTTP until interrupted (blocks).

    ``host``/``port`` default to ``settings.http_host`` (loopback) and
    ``settings.feature_server_port``.
    """
    settings = facade.settings
    run(
        OnlineReader(facade.repo_path, max_entities=max_entities),
        host or settings.http_host,
        settings.feature_server_port if port is None else port,
        gate=gate_of(facade),
    )


def _config(reader: OnlineReader, host: str, port: int, gate: Gate | None = None) -> Any:
    import uvicorn

    return uvicorn.Config(
        build(reader, gate=gate),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )


def run(
    reader: OnlineReader, host: str = "127.0.0.1", port: int = 6566, gate: Gate | None = None
) -> None:
    """Run uvicorn (uvloop + httptools, no access log: it costs more than a read) on ``reader``."""
    import gc

    import uvicorn

    server = uvicorn.Server(_config(reader, host, port, gate))
    # Feast's registry, protobuf and pandas leave a large heap: freezing it keeps full GC
    # passes (latency spikes under load) from walking it again and again.
    gc.collect()
    gc.freeze()
    server.run()


@contextmanager
def running(
    facade: Features | OnlineReader,
    host: str | None = None,
    port: int = 0,
    *,
    max_entities: int = DEFAULT_MAX_ENTITIES,
    gate: Gate | None = None,
) -> Iterator[str]:
    """Serve in a background thread for the ``with`` block; yields the base URL.

    ``port=0`` picks a free port. For notebooks, examples and tests; ``serve`` is for services.
    A workspace's facade brings its auth gate when ``settings.auth`` is on; a bare reader
    is served as is unless ``gate`` is given.
    """
    import threading

    import uvicorn

    if isinstance(facade, OnlineReader):
        reader, default_host = facade, "127.0.0.1"
    else:
        reader = OnlineReader(facade.repo_path, max_entities=max_entities)
        default_host = facade.settings.http_host
        gate = gate if gate is not None else gate_of(facade)
    server = uvicorn.Server(_config(reader, host or default_host, port, gate))
    thread = threading.Thread(target=server.run, name="raylake-feature-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the feature retrieval API did not start (port taken?)")
            time.sleep(0.02)
        bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    """``python -m raylake.features._server REPO [--host H] [--port P]``: serve a Feast repo."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("repo", help="folder holding feature_store.yaml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6566)
    parser.add_argument("--max-entities", type=int, default=DEFAULT_MAX_ENTITIES)
    args = parser.parse_args(argv)
    run(OnlineReader(args.repo, max_entities=args.max_entities), args.host, args.port)


if __name__ == "__main__":
    main()
