"""The Ray Serve application of one endpoint: a FastAPI app run by every replica.

A request picks a model variant (champion/challenger by traffic weight), is parsed and checked
against that variant's signature on its own (so a bad request fails alone), then waits in
``@serve.batch`` to be scored together with concurrent requests for the same variant; a request
with nothing else in flight is scored at once (waiting for a batch that cannot form only adds
the batch window to its latency). The
variants arrive as Serve ``user_config``: promotion and rollback are ``reconfigure`` calls on
running replicas, which load the new model off the event loop and then swap it in.

No ``from __future__ import annotations`` here: FastAPI resolves the route annotations
(``Request``) at run time in the replica, where only the names pickled with the class exist.
"""

import asyncio
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from ray import serve

from raylake.errors import InvalidTokenError, PermissionDeniedError
from raylake.serving import _protocol as protocol
from raylake.serving._asgi import InvocationsFirst, read_body
from raylake.serving._metrics import EndpointMetrics
from raylake.serving._online import OnlineFeatures
from raylake.serving._openapi import INVOCATIONS_OPENAPI, describe_schema
from raylake.serving._records import rows_json
from raylake.serving._spec import EndpointSpec, Variant
from raylake.settings import Settings

log = logging.getLogger("raylake.serving")

VERSION_HEADER = "X-Raylake-Model-Version"
MODEL_HEADER = "X-Raylake-Model"
ROLE_HEADER = "X-Raylake-Variant"
LOG_FLUSH_S = 0.5  # how often buffered inference records go to the writer actor
LOG_FLUSH_RECORDS = 256

app = FastAPI(
    title="raylake model endpoint",
    description=(
        "Scores rows with a registered MLflow model. `POST /invocations` speaks MLflow's "
        "scoring protocol (dataframe_split, dataframe_records, instances, inputs; or text/csv)."
    ),
    version="1",
)


class _BarePrefixIsRoot:
    """``GET /endpoints/<name>`` answers like ``/endpoints/<name>/`` instead of a redirect."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("path", "") == scope.get("root_path", ""):
            scope = {**scope, "path": scope["path"] + "/"}
        await self.inner(scope, receive, send)


app.add_middleware(_BarePrefixIsRoot)
app.add_middleware(InvocationsFirst, content_type=protocol.JSON)  # outermost: runs first


@dataclass(eq=False)  # identity matters: requests are grouped per loaded model
class Loaded:
    variant: Variant
    model: Any
    schema: Any
    signature: dict[str, Any] | None
    score: Any = None  # frame -> predictions; ``model.predict`` unless _scorer found better

    def __post_init__(self) -> None:
        if self.score is None:
            self.score = _scorer(self.model)


def _scorer(model: Any) -> Any:
    """The pyfunc model's own predict function, skipping ``PyFuncModel.predict``'s second
    signature enforcement: every frame reaching the model was already enforced here (MLflow's
    ``_enforce_schema``, or the fast path tested to build the same frame), and enforcing again
    costs ~0.15 ms a call. Only for models whose predict needs nothing else from pyfunc (no
    type-hint signatures, no params); any other model goes through ``model.predict``."""
    import inspect

    fn, meta = getattr(model, "_predict_fn", None), getattr(model, "metadata", None)
    try:  # MLflow internals: any surprise (another MLflow version) means the plain path
        if fn is None or meta is None or meta.get_input_schema() is None:
            return model.predict
        if meta._is_signature_from_type_hint() or meta._is_type_hint_from_example():
            return model.predict
        if meta.get_params_schema() is not None:
            return model.predict
        params = list(inspect.signature(fn).parameters.values())[1:]
    except (AttributeError, TypeError, ValueError):
        return model.predict
    if any(p.default is inspect.Parameter.empty for p in params):
        return model.predict
    return fn


# Helpers come before the class: Serve pickles the decorated class by value at decoration time,
# so only names already defined then are available inside the replica.
def _predict_alone(loaded: Loaded, rows: Any) -> Any:
    try:
        return loaded.score(protocol.batch_frame([rows]))
    except Exception as exc:  # noqa: BLE001 - the model refused this input: a 4xx, not a 500
        return protocol.BadRequest(f"the model could not score the input: {exc}"[:500])


def _writer(name: str, settings: Settings) -> Any:
    """The inference table writer actor, or None while that module is not available."""
    try:
        from raylake.serving._inference_log import inference_writer
    except ImportError:
        return None
    try:
        return inference_writer(name, settings)
    except Exception:  # noqa: BLE001 - scoring must work even when the table cannot be written
        log.exception("endpoint %s: no inference table writer", name)
        return None


def _gate(settings: Settings) -> Any:
    """The replica's auth gate (auth on), or None: with auth off nothing is checked."""
    if not settings.auth:
        return None
    from raylake.governance.gate import Gate

    return Gate.from_settings(settings)  # the workspace's catalog database, from the settings


async def _authorize(gate: Any, name: str, header: str | None) -> None:
    """EXECUTE on endpoint ``name`` for the bearer token in ``header``, or a 401/403 BadRequest.
    A cached success costs a hash and two dict lookups; misses query the catalog off the loop."""
    if gate.cached(header, "EXECUTE", "endpoint", (name,)) is not None:
        return
    try:
        await asyncio.to_thread(gate.check, header, "score", "EXECUTE", "endpoint", (name,))
    except InvalidTokenError:
        from raylake.governance.gate import UNAUTHORIZED

        raise protocol.BadRequest(UNAUTHORIZED, 401, "UNAUTHENTICATED") from None
    except PermissionDeniedError as exc:
        raise protocol.BadRequest(str(exc), 403, "PERMISSION_DENIED") from None
    except Exception as exc:  # noqa: BLE001 - the catalog database is unreachable
        log.exception("endpoint %s: auth check failed", name)
        raise protocol.BadRequest(f"authorization unavailable: {exc}", 503, "UNAVAILABLE") from None


# No per-request access log line: it costs ~3% of a replica's CPU at full load, and the inference
# table already records every request (Serve's own error logs stay on).
@serve.deployment(
    name="endpoint",
    health_check_period_s=2,
    health_check_timeout_s=30,
    logging_config={"enable_access_log": False},
)
@serve.ingress(app)
class ModelEndpoint:
    def __init__(self, name: str, settings: Settings, static: dict[str, Any]) -> None:
        self._name = name
        self._settings = settings
        self._spec = EndpointSpec.from_config({**static, "name": name, "variants": []})
        self._loaded: list[Loaded] = []
        self._missing_entities = self._spec.missing_entities
        self._weights: list[float] = []
        self._cache: dict[str, Loaded] = {}
        self._reload_lock = asyncio.Lock()
        self._metrics = EndpointMetrics(name)
        self._score.set_max_batch_size(self._spec.max_batch_size)
        self._score.set_batch_wait_timeout_s(self._spec.batch_wait_s)
        self._features = (
            OnlineFeatures(self._spec.feature_repo, self._spec.features, self._spec.entity_keys)
            if self._spec.features
            else None
        )
        self._monitoring = self._spec.monitoring
        self._writer = _writer(name, settings) if self._monitoring else None
        self._records: list[tuple[Any, ...]] = []
        self._flusher: asyncio.Task | None = None
        self._gate = _gate(settings)
        self._in_flight = 0  # requests inside invocations(): 1 means this one is alone

    # -- model variants --------------------------------------------------------------------------
    async def reconfigure(self, config: dict[str, Any]) -> None:
        """New variants (promotion, rollback, traffic change): load, then swap in one step."""
        spec = EndpointSpec.from_config(config)
        async with self._reload_lock:
            loaded = await asyncio.to_thread(self._load, spec.variants)
            self._loaded, self._weights = loaded, [v.variant.weight for v in loaded]
            self._missing_entities = spec.missing_entities
            self._cache = {lv.variant.uri: lv for lv in loaded}
        log.info("endpoint %s serves %s", self._name, [v.uri for v in spec.variants])

    def _load(self, variants: tuple[Variant, ...]) -> list[Loaded]:
        import mlflow

        from raylake.registry.logging import tracking

        out = []
        for variant in variants:
            cached = self._cache.get(variant.uri)
            if cached is not None:
                out.append(Loaded(variant, cached.model, cached.schema, cached.signature))
                continue
            with tracking(self._settings.mlflow_tracking_uri):
                model = mlflow.pyfunc.load_model(variant.uri)
            sig = model.metadata.signature
            out.append(
                Loaded(variant, model, model.metadata.get_input_schema(), sig and sig.to_dict())
            )
        return out

    def _pick(self) -> Loaded:
        if not self._loaded:
            raise protocol.BadRequest("the endpoint has no model loaded yet", 503, "UNAVAILABLE")
        if len(self._loaded) == 1:
            return self._loaded[0]
        return random.choices(self._loaded, weights=self._weights)[0]

    def check_health(self) -> None:
        if not self._loaded:
            raise RuntimeError("no model loaded")

    # -- HTTP ------------------------------------------------------------------------------------
    def __serve_build_asgi_app__(self) -> Any:
        """Serve's hook once the replica exists: hand the scoring handler to the app, whose
        first middleware (``InvocationsFirst``) sends invocations to it directly."""
        self.app.state.invoke = self._invoke
        return self.app

    @app.post("/invocations", openapi_extra=INVOCATIONS_OPENAPI, summary="Score rows")
    async def invocations(self, request: Request) -> Response:
        # Documents the route; requests normally reach _invoke through InvocationsFirst.
        status, payload, headers = await self._invoke(
            request.headers, lambda limit: read_body(request.receive, request.headers, limit)
        )
        return Response(payload, status_code=status, media_type=protocol.JSON, headers=headers)

    async def _invoke(self, headers: Any, body_of: Any) -> tuple[int, bytes, dict[str, str]]:
        """Score one request: (HTTP status, JSON body, extra headers); 4xx for bad input."""
        start = time.perf_counter()
        self._in_flight += 1
        try:
            if self._gate is not None:
                await _authorize(self._gate, self._name, headers.get("authorization"))
            chosen = self._pick()
            body = await body_of(self._spec.max_body_bytes)
            frame, given, used = await self._inputs(body, headers.get("content-type"), chosen)
            await asyncio.sleep(0)  # let requests already queued on the loop count themselves
            if self._in_flight == 1:
                predictions = self._predict(chosen, [frame])[0]
            else:
                predictions = await self._score((chosen, frame))
            if isinstance(predictions, protocol.BadRequest):
                raise predictions
            payload, predictions_json = protocol.encode_both(predictions)
        except protocol.BadRequest as exc:
            self._metrics.errors.labels(self._name, str(exc.status), exc.error_code).inc()
            extra = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            return exc.status, json.dumps(exc.body()).encode(), extra
        finally:
            self._in_flight -= 1
        v = chosen.variant
        if self._monitoring:
            elapsed = time.perf_counter() - start
            series = self._metrics.variant(v.model, v.version, v.role)
            series.answered.inc()
            series.latency.observe(elapsed)
            series.rows.inc(len(frame))
            if self._writer is not None:
                # Columns go as they are: the writer actor makes their JSON, off this process.
                inputs = rows_json(frame) if given is None else given
                request_id = headers.get("x-request-id")
                self._record(request_id, v, elapsed, inputs, used, predictions_json)
        answer = {VERSION_HEADER: str(v.version), MODEL_HEADER: v.model, ROLE_HEADER: v.role}
        return 200, payload, answer

    @app.get("/", summary="Describe the endpoint")
    async def describe(self) -> dict[str, Any]:
        return {
            "name": self._name,
            "models": [
                {
                    "role": lv.variant.role,
                    "model": lv.variant.model,
                    "version": lv.variant.version,
                    "uri": lv.variant.uri,
                    "requested": lv.variant.ref,
                    "traffic_percent": lv.variant.weight,
                    "signature": lv.signature,
                    "input_schema": describe_schema(lv.schema),
                }
                for lv in self._loaded
            ],
            "features": list(self._spec.features),
            "entity_keys": list(self._spec.entity_keys),
            "missing_entities": self._missing_entities,
            "max_batch_size": self._spec.max_batch_size,
            "max_body_bytes": self._spec.max_body_bytes,
            "formats": [*protocol.FORMATS, protocol.CSV],
        }

    @app.get("/health", summary="Liveness and loaded versions")
    async def health(self) -> JSONResponse:
        if not self._loaded:
            return JSONResponse({"status": "loading"}, status_code=503)
        versions = [f"{lv.variant.model}/{lv.variant.version}" for lv in self._loaded]
        return JSONResponse({"status": "ok", "models": versions})

    @app.get("/metrics", summary="Prometheus metrics of all replicas on this node")
    async def metrics(self) -> Response:
        data, content_type = self._metrics.exposition()
        return Response(data, media_type=content_type)

    # -- scoring ---------------------------------------------------------------------------------
    async def _inputs(
        self, body: bytes, content_type: str | None, chosen: Loaded
    ) -> tuple[protocol.Rows, dict[str, list[Any]] | None, dict[str, list[Any]] | None]:
        """The checked rows to score; the request's columns as sent (plain rows bodies and
        all requests with online features) and the features read, for the inference table."""
        if self._features is None:
            simple = protocol.read_simple(body, content_type, chosen.schema)
            if simple is not None:
                return simple[0], simple[1], None
            data = protocol.parse(body, content_type, chosen.schema)
            return protocol.validate(data, chosen.schema), None, None
        # Online features: the request carries entity keys (and request-time columns); the
        # replica reads the rest from the online store, then checks the joined row.
        given = protocol.read_columns(body, content_type)
        if given is None:  # not plain rows: MLflow's parser reads it
            frame = protocol.to_frame(protocol.parse(body, content_type, None))
            given = frame.to_dict(orient="list")
        t0 = time.perf_counter()
        joined, used = await self._features.join(given, self._missing_entities)
        if self._monitoring:
            self._metrics.feature_lookup.labels(self._name).observe(time.perf_counter() - t0)
        frame = protocol.rows_from_columns(joined, chosen.schema, extra=True)
        if frame is None:  # nulls, other types: MLflow's enforcement decides
            frame = protocol.validate(pd.DataFrame(joined), chosen.schema)
        return frame, given, used

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.002)
    async def _score(self, items: list[tuple[Loaded, protocol.Rows]]) -> list[Any]:
        results: list[Any] = [None] * len(items)
        groups: dict[int, list[int]] = {}
        for i, (loaded, _) in enumerate(items):
            groups.setdefault(id(loaded), []).append(i)
        for indexes in groups.values():
            parts = self._predict(items[indexes[0]][0], [items[i][1] for i in indexes])
            for i, part in zip(indexes, parts, strict=True):
                results[i] = part
        return results

    def _predict(self, loaded: Loaded, frames: list[protocol.Rows]) -> list[Any]:
        """One model call for the frames of several requests; their predictions, split back."""
        v = loaded.variant
        if self._monitoring:
            self._metrics.variant(v.model, v.version, v.role).batch_size.observe(len(frames))
        try:
            batch = protocol.batch_frame(frames)
            return protocol.split(loaded.score(batch), [len(f) for f in frames])
        except Exception:
            # One bad request must not fail the others it was batched with: score alone.
            return [_predict_alone(loaded, f) for f in frames]

    # -- inference table -------------------------------------------------------------------------
    def _record(
        self,
        request_id: str | None,
        v: Variant,
        elapsed: float,
        inputs: str | dict[str, list[Any]],
        features: dict[str, list[Any]] | None,
        predictions: str,
    ) -> None:
        # A row of the writer's ROW_FIELDS (request id, endpoint, model, version, POSIX time,
        # latency in ms, inputs, features, prediction): it names them, off the request path.
        self._records.append(
            (
                request_id or uuid.uuid4().hex,
                self._name,
                v.model,
                v.version,
                time.time(),
                elapsed * 1000,
                inputs,
                features,
                predictions,
            )
        )
        if len(self._records) >= LOG_FLUSH_RECORDS:
            self._flush_records()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while self._records:
            await asyncio.sleep(LOG_FLUSH_S)
            self._flush_records()

    def _flush_records(self) -> None:
        if not self._records or self._writer is None:
            return
        records, self._records = self._records, []
        self._writer.log_rows.remote(records)  # fire and forget: the writer batches commits

    def __del__(self) -> None:
        # Serve calls this on a graceful replica shutdown (delete, scale-down): hand the
        # buffered records over and wait for the writer to have them before the process ends.
        if not getattr(self, "_records", None) or self._writer is None:
            return
        records, self._records = self._records, []
        try:
            import ray

            ray.get(self._writer.log_rows.remote(records), timeout=10)
        except Exception:  # noqa: BLE001 - shutting down; nothing left to report to
            log.exception("endpoint %s: inference records lost at shutdown", self._name)
