"""What an endpoint is: its models (variants with traffic weights), features and scaling.

The spec travels to the replicas as Ray Serve ``user_config`` (plain JSON), so any process
connected to the cluster (the CLI, another notebook) can read an endpoint back from Serve
alone, with no state of raylake's own to keep in sync.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from raylake.errors import InvalidArgumentError

# Endpoint names end up in URLs, Ray actor names and the inference table's name.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")
ROLES = ("champion", "challenger")
MISSING_ENTITY_POLICIES = ("null", "404")
DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_BATCH_WAIT_S = 0.002
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
# Bumped when the replica code changes in a way that needs new replicas rather than a
# reconfigure (see EndpointSpec.code_version).
_CODE_GENERATION = "1"


def check_endpoint_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgumentError(
            f"endpoint name {name!r} must be lowercase letters, digits and '_', "
            "starting with a letter (at most 63 characters)"
        )
    return name


@dataclass(frozen=True)
class ModelRef:
    """A model reference as asked (``models:/name@alias``) split into name and version/alias."""

    name: str
    alias_or_version: str | int | None

    @classmethod
    def parse(cls, ref: str) -> ModelRef:
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidArgumentError(f"model must be a models:/ URI, got {ref!r}")
        body = ref.strip().removeprefix("models:/")
        if "@" in body:
            name, alias = body.split("@", 1)
            if not name or not alias:
                raise InvalidArgumentError(f"bad model reference {ref!r}")
            return cls(name, alias)
        name, _, version = body.partition("/")
        if version:
            if not version.isdigit():
                raise InvalidArgumentError(f"bad model version in {ref!r}")
            return cls(name, int(version))
        return cls(name, None)  # the latest version


@dataclass(frozen=True)
class Variant:
    """One model version behind an endpoint and its share of the traffic."""

    role: str  # champion or challenger
    ref: str  # what the user asked for; refresh() resolves it again
    model: str  # catalog.schema.model
    version: int
    weight: float  # percent of requests

    @property
    def uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    variants: tuple[Variant, ...]
    features: tuple[str, ...] = ()
    entity_keys: tuple[str, ...] = ()
    feature_repo: str = ""  # the Feast repo the replicas read online features through
    missing_entities: str = "null"
    num_replicas: int | None = 1
    autoscaling: dict[str, Any] | None = None
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    batch_wait_s: float = DEFAULT_BATCH_WAIT_S
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    deploy_id: str = ""  # fixed at first deploy: names the metrics folder
    # False: no inference table rows and no per-request Prometheus samples (errors are still
    # counted). For endpoints where the monitoring cost matters more than the record.
    monitoring: bool = True

    def code_version(self) -> str:
        """Serve's deployment version: everything except the variants.

        Keeping it stable while only the variants change makes Serve apply the new
        ``user_config`` in place (``reconfigure`` on the running replicas) instead of replacing
        them: promotion and rollback then never leave a moment without a ready replica.
        """
        # Scaling changes are lightweight updates in Serve; the variants and the missing-entity
        # policy are read by ``reconfigure``.
        dynamic = ("variants", "num_replicas", "autoscaling", "missing_entities")
        static = {k: v for k, v in self.to_config().items() if k not in dynamic}
        blob = json.dumps([_CODE_GENERATION, static], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def to_config(self) -> dict[str, Any]:
        out = asdict(self)
        out["variants"] = [asdict(v) for v in self.variants]
        out["features"] = list(self.features)
        out["entity_keys"] = list(self.entity_keys)
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EndpointSpec:
        data = dict(config)
        data["variants"] = tuple(Variant(**v) for v in data.get("variants", ()))
        data["features"] = tuple(data.get("features") or ())
        data["entity_keys"] = tuple(data.get("entity_keys") or ())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_variants(self, variants: Sequence[Variant]) -> EndpointSpec:
        return replace(self, variants=tuple(variants))


def traffic_weights(
    challenger: str | None, traffic: Mapping[str, float] | None
) -> dict[str, float]:
    """Percent per role; the champion takes everything unless a challenger and split are given."""
    if challenger is None:
        if traffic and any(role != "champion" and w for role, w in traffic.items()):
            raise InvalidArgumentError("traffic names a challenger, but challenger= is not set")
        return {"champion": 100.0}
    if not traffic:
        raise InvalidArgumentError(
            "a challenger needs a traffic split, e.g. traffic={'champion': 90, 'challenger': 10}"
        )
    unknown = set(traffic) - set(ROLES)
    if unknown:
        raise InvalidArgumentError(f"traffic keys must be {ROLES}, got {sorted(unknown)}")
    weights = {role: float(traffic.get(role, 0)) for role in ROLES}
    if any(w < 0 for w in weights.values()) or abs(sum(weights.values()) - 100) > 1e-6:
        raise InvalidArgumentError(f"traffic weights must be >= 0 and sum to 100, got {traffic}")
    return weights


def check_scaling(
    num_replicas: int | None, autoscaling: Mapping[str, Any] | None, max_batch_size: int | None
) -> None:
    if autoscaling is None and (
        not isinstance(num_replicas, int) or isinstance(num_replicas, bool) or num_replicas < 1
    ):
        raise InvalidArgumentError(f"num_replicas must be a positive integer, got {num_replicas}")
    if autoscaling is not None and not isinstance(autoscaling, Mapping):
        raise InvalidArgumentError("autoscaling must be a dict of Ray Serve autoscaling options")
    if max_batch_size is not None and (not isinstance(max_batch_size, int) or max_batch_size < 1):
        raise InvalidArgumentError(f"max_batch_size must be >= 1, got {max_batch_size}")
