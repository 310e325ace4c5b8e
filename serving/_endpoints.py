"""``ws.endpoints``: deploy, list, describe, refresh and delete model endpoints on Ray Serve.

Each endpoint is one Serve application at ``/endpoints/<name>`` on Serve's HTTP proxy (the
stable URL). With direct ingress on (raylake's local Ray turns it on), each replica also
answers the same paths on its own port: ``Endpoint.replica_urls``, the fast path for clients
that balance themselves (it changes when replicas restart).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylake.errors import EndpointError, EndpointNotFoundError, InvalidArgumentError
from raylake.serving import _serve_state as state
from raylake.serving._metrics import ENV as METRICS_ENV
from raylake.serving._metrics import metrics_dir, remove_metrics
from raylake.serving._spec import (
    DEFAULT_MAX_BATCH_SIZE,
    MISSING_ENTITY_POLICIES,
    EndpointSpec,
    ModelRef,
    Variant,
    check_endpoint_name,
    check_scaling,
    traffic_weights,
)
from raylake.settings import Settings

if TYPE_CHECKING:
    from raylake.governance.guard import Guard
    from raylake.registry import ModelRegistry

log = logging.getLogger(__name__)

DEFAULT_MODEL = "models:/main.models.churn@champion"
REPLICA_CPUS = 0.5  # replicas mostly wait on I/O between batches; leave cores for the rest
DEPLOY_TIMEOUT_S = 300


# Ray starts workers at nice 15 so batch work yields to its own control plane. A replica answers
# requests: at nice 15 it would lose the CPU to any busy process on the node (on a laptop, the
# very client calling it). Ray's job supervisor sets the same variable for its own actor.
REPLICA_PRIORITY = {"RAY_worker_niceness": "0"}


@dataclass(frozen=True)
class Endpoint:
    """A deployed endpoint as Serve reports it."""

    name: str
    url: str  # http://host:port/endpoints/<name>, through Serve's proxy
    status: str
    models: list[Variant]
    features: list[str] = field(default_factory=list)
    entity_keys: list[str] = field(default_factory=list)
    missing_entities: str = "null"
    num_replicas: int | None = None
    autoscaling: dict[str, Any] | None = None
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    replicas: int = 0
    replica_urls: list[str] = field(default_factory=list)
    message: str = ""
    monitoring: bool = True

    @property
    def invocations_url(self) -> str:
        return f"{self.url}/invocations"

    @property
    def version(self) -> int:
        """The champion's model version."""
        return next(v.version for v in self.models if v.role == "champion")


class Endpoints:
    """Model endpoints on the workspace's Ray Serve."""

    def __init__(
        self,
        settings: Settings,
        models: Callable[[], ModelRegistry],
        ensure_ray: Callable[[], None],
        feature_repo: Callable[[], Any] | None = None,
        guard: Guard | None = None,
    ) -> None:
        self._settings = settings
        self._models = models
        self._ensure_ray = ensure_ray
        self._feature_repo = feature_repo  # the Feast repo folder, only asked for when needed
        # Privilege checks and audit (raylake.governance), used only with settings.auth on.
        self._guard = guard if settings.auth else None

    # -- deploying -------------------------------------------------------------------------------
    def deploy(
        self,
        name: str,
        model: str = DEFAULT_MODEL,
        *,
        features: Sequence[str] | None = None,
        entity_keys: Sequence[str] | None = None,
        num_replicas: int = 1,
        autoscaling: Mapping[str, Any] | None = None,
        max_batch_size: int | None = None,
        challenger: str | None = None,
        traffic: Mapping[str, float] | None = None,
        missing_entities: str = "null",
        monitoring: bool = True,
    ) -> Endpoint:
        """Deploy (or update in place) endpoint ``name`` serving ``model``.

        ``challenger`` plus ``traffic={"champion": 90, "challenger": 10}`` splits requests
        between two versions. With ``features`` (Feast refs ``view:feature``) and
        ``entity_keys``, requests may carry only the keys and request-time columns; the
        replica reads the rest online. ``missing_entities``: ``"null"`` scores unknown
        entities with null features, ``"404"`` refuses the request. ``monitoring=False``
        writes no inference table and no per-request metrics (errors are still counted): the
        record costs a few percent of throughput, see ``benchmarks/serving.py``.
        """
        check_endpoint_name(name)
        check_scaling(num_replicas, autoscaling, max_batch_size)
        if missing_entities not in MISSING_ENTITY_POLICIES:
            raise InvalidArgumentError(
                f"missing_entities must be one of {MISSING_ENTITY_POLICIES}, "
                f"got {missing_entities!r}"
            )
        if bool(features) != bool(entity_keys):
            raise InvalidArgumentError("features and entity_keys go together: give both or none")
        repo = ""
        if features:
            if self._feature_repo is None:
                raise InvalidArgumentError("online features need the workspace's feature store")
            repo = str(self._feature_repo())
        weights = traffic_weights(challenger, traffic)
        refs = {"champion": model, **({"challenger": challenger} if challenger else {})}
        if self._guard is not None:  # before anything starts: a refusal changes nothing
            self._authorize_deploy(name, refs.values())
        variants = [self._resolve(role, ref, weights[role]) for role, ref in refs.items()]
        self._start()
        existing = state.applications().get(name)
        old = state.user_config(existing) if existing else None
        spec = EndpointSpec(
            name=name,
            variants=tuple(variants),
            features=tuple(features or ()),
            entity_keys=tuple(entity_keys or ()),
            feature_repo=repo,
            missing_entities=missing_entities,
            num_replicas=None if autoscaling else num_replicas,
            autoscaling=dict(autoscaling) if autoscaling else None,
            max_batch_size=max_batch_size or DEFAULT_MAX_BATCH_SIZE,
            deploy_id=(old or {}).get("deploy_id") or uuid.uuid4().hex[:8],
            monitoring=bool(monitoring),
        )
        self._run(spec)
        self._audit("deploy", name, {"models": [v.uri for v in variants]})
        return self.get(name)

    def refresh(self, name: str) -> Endpoint:
        """Resolve the endpoint's aliases again and serve the versions they point at now.

        Only the variants change, so Serve reconfigures the running replicas in place: each
        loads the new version, then swaps it in; requests never meet a replica without one.
        """
        spec = self._spec(name)
        if self._guard is not None:
            self._guard.require("refresh", "MANAGE", "endpoint", name)
        variants = [self._resolve(v.role, v.ref, v.weight) for v in spec.variants]
        if variants != list(spec.variants):
            self._run(spec.with_variants(variants))
            self._audit("refresh", name, {"models": [v.uri for v in variants]})
        return self.get(name)

    # -- governance (checks and audit only with settings.auth on) -------------------------------
    def _authorize_deploy(self, name: str, refs: Any) -> None:
        """Replacing an endpoint needs MANAGE on it; a new one CREATE where it lives (catalog
        ``main`` for a plain name, as governance places endpoints); both need SELECT on the
        models served."""
        from raylake.governance.securables import Privilege, securable

        guard = self._guard
        assert guard is not None
        sec = securable("endpoint", name)
        if self._connected() and name in state.applications():
            guard.check("deploy", Privilege.MANAGE, sec)
        else:
            guard.check("deploy", Privilege.CREATE, sec.parents[0], detail={"endpoint": name})
        for ref in refs:
            guard.require("deploy", "SELECT", "model", ModelRef.parse(ref).name)

    def _audit(self, action: str, name: str, detail: dict[str, Any] | None = None) -> None:
        if self._guard is not None:
            self._guard.event(action, "endpoint", name, detail=detail)

    def _resolve(self, role: str, ref: str, weight: float) -> Variant:
        parsed = ModelRef.parse(ref)
        info = self._models().get(parsed.name, parsed.alias_or_version)
        if info.signature is None:
            raise InvalidArgumentError(
                f"{ref} has no signature: an endpoint validates requests against it"
            )
        return Variant(role, ref, info.name, int(info.version), weight)

    def _run(self, spec: EndpointSpec) -> None:
        from ray import serve

        from raylake.serving._app import ModelEndpoint

        options: dict[str, Any] = {
            "user_config": spec.to_config(),
            # A stable version makes a change of variants a reconfigure, not a redeploy.
            "version": spec.code_version(),
            "_internal": True,
            "ray_actor_options": {
                "num_cpus": REPLICA_CPUS,
                "runtime_env": {
                    "env_vars": {
                        METRICS_ENV: str(metrics_dir(spec.name, spec.deploy_id)),
                        **REPLICA_PRIORITY,
                    }
                },
            },
            "max_ongoing_requests": max(64, spec.max_batch_size * 4),
        }
        if spec.autoscaling:
            options["autoscaling_config"] = spec.autoscaling
            options["num_replicas"] = "auto"
        else:
            options["num_replicas"] = spec.num_replicas
        static = {k: v for k, v in spec.to_config().items() if k not in ("variants", "name")}
        for key in ("num_replicas", "autoscaling"):
            static.pop(key)
        bound = ModelEndpoint.options(**options).bind(spec.name, self._settings, static)
        try:
            serve.run(bound, name=spec.name, route_prefix=f"{state.ROUTE_PREFIX}{spec.name}")
        except Exception as exc:
            raise EndpointError(f"endpoint {spec.name} could not be deployed: {exc}") from exc

    # -- reading ---------------------------------------------------------------------------------
    def list(self, *, principal: str | None = None) -> list[Endpoint]:
        """The running endpoints. With auth on, only those the acting user (or ``principal``,
        for servers acting for a caller) may see: EXECUTE or MANAGE on the endpoint, or on
        catalog ``main`` where endpoints live (``Visibility`` in raylake.governance)."""
        if not self._connected():
            return []
        apps = state.applications()
        seen = self._guard.visibility(principal) if self._guard is not None else None
        if seen is not None:
            from raylake.governance.securables import securable

            apps = {n: a for n, a in apps.items() if seen.sees(securable("endpoint", n))}
        return sorted(
            (self._endpoint(name, app) for name, app in apps.items()), key=lambda e: e.name
        )

    def get(self, name: str) -> Endpoint:
        check_endpoint_name(name)
        app = state.applications().get(name) if self._connected() else None
        if app is None:
            raise EndpointNotFoundError(f"no endpoint named {name!r}")
        return self._endpoint(name, app)

    def _spec(self, name: str) -> EndpointSpec:
        check_endpoint_name(name)
        app = state.applications().get(name) if self._connected() else None
        config = state.user_config(app) if app else None
        if config is None:
            raise EndpointNotFoundError(f"no endpoint named {name!r}")
        return EndpointSpec.from_config(config)

    def _endpoint(self, name: str, app: dict[str, Any]) -> Endpoint:
        spec = EndpointSpec.from_config(state.user_config(app) or {"name": name, "variants": []})
        host, port = state.proxy_address()
        running = [r for r in state.replicas(app) if r.get("state") == "RUNNING"]
        try:
            ports = state.direct_ports(name)
        except Exception:  # noqa: BLE001 - the fast path is optional; the proxy URL stands
            ports = []
        status = app.get("status")
        return Endpoint(
            name=name,
            url=f"http://{host}:{port}{state.ROUTE_PREFIX}{name}",
            status=str(getattr(status, "value", status)),
            models=list(spec.variants),
            features=list(spec.features),
            entity_keys=list(spec.entity_keys),
            missing_entities=spec.missing_entities,
            num_replicas=spec.num_replicas,
            autoscaling=spec.autoscaling,
            max_batch_size=spec.max_batch_size,
            replicas=len(running),
            replica_urls=[f"http://{host}:{p}{state.ROUTE_PREFIX}{name}" for p in ports],
            message=str(app.get("message") or ""),
            monitoring=spec.monitoring,
        )

    # -- removing --------------------------------------------------------------------------------
    def delete(self, name: str) -> None:
        """Stop the endpoint's replicas (they hand buffered inference records over first)."""
        from ray import serve

        spec = self._spec(name)
        if self._guard is not None:
            self._guard.require("delete", "MANAGE", "endpoint", name)
        serve.delete(name)
        _close_writer(name)
        remove_metrics(name, spec.deploy_id)
        self._audit("delete", name)

    # -- logs ------------------------------------------------------------------------------------
    def logs(self, name: str, tail: int = 100) -> str:
        """The last ``tail`` lines of each replica's log on this node (Ray's session folder)."""
        check_endpoint_name(name)
        folder = _serve_log_folder()
        files = sorted(folder.glob(f"replica_{name}_endpoint_*.log")) if folder else []
        if not files:
            raise EndpointNotFoundError(f"no replica logs of endpoint {name!r} on this node")
        out = []
        for path in files:
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            out.append(f"==> {path.name} <==")
            out.extend(lines)
        return "\n".join(out)

    # -- helpers ---------------------------------------------------------------------------------
    def _start(self) -> None:
        self._ensure_ray()
        state.start(self._settings.http_host, self._settings.serve_port)

    def _connected(self) -> bool:
        """Ray is up and Serve runs; reading never starts a local Ray just to find nothing."""
        import ray

        if not ray.is_initialized():
            if not self._settings.ray_address:
                return False
            self._ensure_ray()
        return state.running()


def _close_writer(name: str) -> None:
    import ray

    try:
        from raylake.serving._inference_log import NAMESPACE, actor_name
    except ImportError:
        return
    try:
        writer = ray.get_actor(actor_name(name), namespace=NAMESPACE)
    except ValueError:
        return  # never created: nothing was logged
    try:
        ray.get(writer.close.remote(), timeout=120)
    except ray.exceptions.RayActorError:
        pass  # close() ends the actor, so the call reports the exit
    except Exception:  # noqa: BLE001 - the endpoint is gone either way; say what was lost
        log.exception("endpoint %s: inference writer did not close cleanly", name)


def _serve_log_folder() -> Path | None:
    import ray

    if not ray.is_initialized():
        return None
    node = ray._private.worker.global_worker.node  # the session folder of this node
    folder = Path(node.get_logs_dir_path()) / "serve"
    return folder if folder.is_dir() else None
