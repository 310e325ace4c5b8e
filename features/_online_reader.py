"""Online feature reads that answer exactly what Feast answers, with less work per request.

Feast's ``get_online_features`` resolves the request against the registry, converts every value
to protobuf, builds a ``GetOnlineFeaturesResponse`` and converts that to JSON-able Python on
each call. :class:`OnlineReader` does the registry part once per distinct request shape (a
*plan*, dropped whenever the registry changes), then per request only:

* converts the entity values with Feast's own ``python_values_to_proto_values`` and
  ``serialize_entity_key`` (so keys match byte for byte what materialization wrote);
* reads the online store directly: one prepared SQLite statement for all views (a connection
  per thread), or one Redis pipeline of ``HMGET`` for all views and entities;
* decodes values with Feast's own ``ValueProto`` → native conversion and builds the
  ``{"results", "metadata"}`` dict that Feast's feature server sends.

No feature values are cached, so an answer is never staler than the online store. Requests
the fast path does not cover (on-demand views, entity-less views, versioned reads, projected
join keys, other online stores) go through ``FeatureStore.get_online_features`` itself.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feast import FeatureService, FeatureStore
from feast.errors import FeastError
from feast.feature_server_utils import _timestamp_to_str, _value_to_native
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
from feast.protos.feast.types.Value_pb2 import Value as ValueProto
from feast.type_map import python_values_to_proto_values
from feast.value_type import ValueType
from google.protobuf.timestamp_pb2 import Timestamp

from raylake.errors import OnlineRequestError, TooManyEntitiesError, UnknownFeatureError
from raylake.features import _sqlite_time

DEFAULT_MAX_ENTITIES = 1000
_EPOCH = "1970-01-01T00:00:00Z"
_PRESENT, _NOT_FOUND = "PRESENT", "NOT_FOUND"

# Python types accepted per entity value type: Feast would coerce (or crash on) anything else.
_INTS = (ValueType.INT32, ValueType.INT64, ValueType.UNIX_TIMESTAMP)
_ACCEPTED: dict[ValueType, tuple[type, ...]] = {
    ValueType.INT32: (int,),
    ValueType.INT64: (int,),
    ValueType.UNIX_TIMESTAMP: (int,),
    ValueType.STRING: (str,),
    ValueType.BYTES: (str, bytes),
    ValueType.FLOAT: (int, float),
    ValueType.DOUBLE: (int, float),
    ValueType.BOOL: (bool,),
}
# Entity types whose checked values map 1:1 onto one ValueProto field (the common join keys).
_DIRECT = {
    ValueType.INT64: "int64_val",
    ValueType.INT32: "int32_val",
    ValueType.STRING: "string_val",
}
_INT_RANGE = {ValueType.INT32: 2**31, ValueType.INT64: 2**63, ValueType.UNIX_TIMESTAMP: 2**63}


@dataclass(frozen=True)
class _ViewRead:
    """What to read for one feature view of a plan."""

    table: str  # SQLite table name / Redis feature-view name
    join_keys: tuple[str, ...]
    features: tuple[str, ...]  # stored feature names, in response order
    out_names: tuple[str, ...]  # names in the response (full names when asked)
    redis_fields: tuple[bytes | str, ...] = ()


@dataclass(frozen=True)
class _Plan:
    """A request shape resolved against the registry: reused until the registry changes."""

    views: tuple[_ViewRead, ...]
    join_keys: frozenset[str]  # every join key of the project (Feast echoes any of them)
    entity_names: Mapping[str, str]  # deprecated entity-name columns → join key
    entity_types: Mapping[str, ValueType]
    needed_keys: frozenset[str]
    fallback: bool  # let Feast answer (a shape the fast path does not cover)


class OnlineReader:
    """Read online features from a Feast repo the way Feast's feature server answers them.

    ``read(features, entities)`` takes feature references (``"view:feature"``) or a feature
    service name, and entity values as columns (``{"driver_id": [1001, 1002]}``); it returns
    the JSON-able dict of ``POST /get-online-features``. Thread-safe.
    """

    def __init__(
        self, store: FeatureStore | str | Path, *, max_entities: int = DEFAULT_MAX_ENTITIES
    ) -> None:
        self.store = (
            store if isinstance(store, FeatureStore) else FeatureStore(repo_path=str(store))
        )
        self.max_entities = max_entities
        config = self.store.config
        self._project = config.project
        self._key_version = config.entity_key_serialization_version
        self._versioned = bool(
            getattr(config.registry, "enable_online_feature_view_versioning", False)
        )
        kind = config.online_store.type
        self._kind = (
            "sqlite"
            if kind == "sqlite" or kind.endswith("SqliteOnlineStore")
            else "redis"
            if kind == "redis" or kind.endswith("RedisOnlineStore")
            else "other"
        )
        self._local = threading.local()
        self._plans: dict[tuple, _Plan] = {}
        self._lock = threading.Lock()
        self._registry_file = self._local_registry_file()
        self._registry_stamp = self._registry_state()
        self._registry_ttl = float(getattr(config.registry, "cache_ttl_seconds", 600) or 600)
        self._ts_cache: dict[Any, str] = {}
        self._sql: dict[tuple, str] = {}  # statement text per (views, keys per view)
        if self._kind == "sqlite":
            from feast.infra.online_stores.sqlite import SqliteOnlineStore

            self._db_path = SqliteOnlineStore._get_db_path(config)
        elif self._kind == "redis":
            from feast.infra.online_stores.helpers import _mmh3

            self._mmh3 = _mmh3
            self._redis = self.store._get_provider().online_store._get_client(config.online_store)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from the repo, not copied: connections, locks and clients stay per process
        # (e.g. handed to Ray Serve replicas as a deployment argument).
        return (_rebuild, (str(self.store.repo_path), self.max_entities))

    @property
    def blocking_io(self) -> bool:
        """True when a read waits on the network (Redis, other stores), not on a local file."""
        return self._kind != "sqlite"

    # -- public ----------------------------------------------------------------------------

    def read(
        self,
        features: Sequence[str] | str,
        entities: Mapping[str, Sequence[Any]],
        full_feature_names: bool = False,
        include_feature_view_version_metadata: bool = False,
    ) -> dict[str, Any]:
        """Online values for every entity row; ``features`` is a list of refs or a service name."""
        self._check_registry()
        rows = self._check_entities(entities)
        plan = self._plan(features, full_feature_names)
        if plan.fallback or include_feature_view_version_metadata:
            return self._feast_read(
                features, entities, full_feature_names, include_feature_view_version_metadata
            )
        protos = self._entity_protos(plan, entities)
        missing = sorted(plan.needed_keys - protos.keys())
        if missing:
            raise OnlineRequestError(
                f"missing entity column(s) {missing} for the requested features"
            )
        results: list[dict[str, Any]] = [
            {
                "values": [_value_to_native(v) for v in values],
                "statuses": [_PRESENT] * rows,
                "event_timestamps": [_EPOCH] * rows,
            }
            for values in protos.values()
        ]
        names = list(protos)
        by_join_keys: dict[tuple[str, ...], list[bytes]] = {}  # views on one entity share keys
        keys = []
        for view in plan.views:
            if view.join_keys not in by_join_keys:
                by_join_keys[view.join_keys] = self._keys(view, protos, rows)
            keys.append(by_join_keys[view.join_keys])
        reads = (self._read_sqlite if self._kind == "sqlite" else self._read_redis)(plan, keys)
        for view, view_keys, found in zip(plan.views, keys, reads, strict=True):
            results.extend(self._columns(view, view_keys, found))
            names.extend(view.out_names)
        return {"results": results, "metadata": {"feature_names": names}}

    def close(self) -> None:
        """Close this thread's SQLite connection (other threads' close when they end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- registry and plans -----------------------------------------------------------------

    def _local_registry_file(self) -> Path | None:
        registry = self.store.config.registry
        if getattr(registry, "registry_type", "file") != "file":
            return None
        path = Path(registry.path)
        if "://" in str(registry.path):
            return None
        return path if path.is_absolute() else Path(self.store.repo_path) / path

    def _registry_state(self) -> Any:
        if self._registry_file is not None:
            try:
                st = os.stat(self._registry_file)
            except FileNotFoundError:
                return None
            return (st.st_mtime_ns, st.st_size)
        return time.monotonic()

    def _check_registry(self) -> None:
        # A local registry file is checked on every request (one stat): an apply is seen at once.
        # Other registries refresh on Feast's own cache TTL, as feast serve does.
        if self._registry_file is not None:
            state = self._registry_state()
            stale = state != self._registry_stamp
        else:
            state = time.monotonic()
            stale = state - self._registry_stamp > self._registry_ttl
        if stale:
            with self._lock:
                self.store.refresh_registry()
                self._plans = {}
                self._registry_stamp = state

    def _plan(self, features: Sequence[str] | str, full_feature_names: bool) -> _Plan:
        if isinstance(features, str):
            key: tuple = ("service", features, full_feature_names)
        else:
            key = ("refs", tuple(features), full_feature_names)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._resolve(features, full_feature_names)
            with self._lock:
                if len(self._plans) > 1024:  # bounded: request shapes come from clients
                    self._plans.clear()
                self._plans[key] = plan
        return plan

    def _resolve(self, features: Sequence[str] | str, full_feature_names: bool) -> _Plan:
        from feast import utils
        from feast.feature_view import DUMMY_ENTITY_NAME

        registry, project = self.store.registry, self._project
        try:
            if isinstance(features, str):
                target: list[str] | FeatureService = registry.get_feature_service(
                    features, project, allow_cache=True
                )
            else:
                if not features:
                    raise OnlineRequestError("no features requested")
                bad = [f for f in features if not isinstance(f, str) or ":" not in f]
                if bad:
                    raise OnlineRequestError(
                        f"feature references must look like 'view:feature', got {bad[:5]}"
                    )
                target = list(features)
            ctx = utils._get_online_request_context(registry, project, target, full_feature_names)
        except FeastError as exc:
            if "NotFound" in type(exc).__name__ or "does not exist" in str(exc):
                raise UnknownFeatureError(str(exc)) from exc
            raise OnlineRequestError(str(exc)) from exc
        except (KeyError, ValueError) as exc:  # e.g. a feature missing from an existing view
            if isinstance(exc, OnlineRequestError):
                raise
            raise UnknownFeatureError(str(exc).strip("'\"")) from exc
        refs, odfvs, name_to_key, types, join_keys, grouped, _, request_data, entityless = ctx
        fallback = bool(odfvs or request_data or entityless) or self._kind == "other"
        order = {ref: i for i, ref in enumerate(refs)}
        views = []
        needed: set[str] = set()
        for table, names in grouped:
            projection = table.projection
            if projection.join_key_map or getattr(projection, "version_tag", None) is not None:
                fallback = True
            if getattr(table, "aggregations", None) or DUMMY_ENTITY_NAME in (table.entities or []):
                fallback = True
            use = projection.name_to_use()
            # Feast groups features by view in a set (arbitrary order); keep the request's order.
            names = sorted(names, key=lambda n, use=use: order.get(f"{use}:{n}", len(order)))
            keys = tuple(name_to_key[e] for e in table.entities)
            needed.update(keys)
            stored = self._table_name(table)
            views.append(
                _ViewRead(
                    table=stored,
                    join_keys=keys,
                    features=tuple(names),
                    out_names=tuple(f"{use}__{n}" if full_feature_names else n for n in names),
                    redis_fields=self._redis_fields(stored, names),
                )
            )
        return _Plan(
            views=tuple(views),
            join_keys=frozenset(join_keys),
            entity_names={k: v for k, v in name_to_key.items() if k not in join_keys},
            entity_types=dict(types),
            needed_keys=frozenset(needed),
            fallback=fallback,
        )

    def _table_name(self, table: Any) -> str:
        from feast.infra.online_stores.helpers import compute_table_id, compute_versioned_name

        if self._kind == "redis":
            return compute_versioned_name(table, self._versioned)
        return compute_table_id(self._project, table, self._versioned)

    def _redis_fields(self, fv_name: str, names: list[str]) -> tuple[bytes | str, ...]:
        if self._kind != "redis":
            return ()
        return (*(self._mmh3(f"{fv_name}:{n}") for n in names), f"_ts:{fv_name}")

    # -- entities ----------------------------------------------------------------------------

    def _check_entities(self, entities: Mapping[str, Sequence[Any]]) -> int:
        if not isinstance(entities, Mapping) or not entities:
            raise OnlineRequestError("'entities' must map entity columns to lists of values")
        lengths = set()
        for name, values in entities.items():
            if not isinstance(values, list | tuple):
                raise OnlineRequestError(f"entity column {name!r} must be a list of values")
            lengths.add(len(values))
        if len(lengths) > 1:
            raise OnlineRequestError(
                f"entity columns have different lengths: "
                f"{ {k: len(v) for k, v in entities.items()} }"
            )
        rows = lengths.pop()
        if rows == 0:
            raise OnlineRequestError("entity columns are empty: no rows to look up")
        if rows > self.max_entities:
            raise TooManyEntitiesError(
                f"{rows} entity rows in one request; the limit is {self.max_entities}"
            )
        return rows

    def _entity_protos(
        self, plan: _Plan, entities: Mapping[str, Sequence[Any]]
    ) -> dict[str, list[ValueProto]]:
        out: dict[str, list[ValueProto]] = {}
        for column, values in entities.items():
            if column in plan.join_keys:
                key = column
            elif column in plan.entity_names:  # Feast accepts entity names, deprecated
                key = plan.entity_names[column]
            else:
                known = sorted(plan.join_keys)
                raise OnlineRequestError(
                    f"unknown entity column {column!r}; entity join keys are {known}"
                )
            kind = plan.entity_types.get(key, ValueType.UNKNOWN)
            out[key] = self._to_protos(key, values, kind)
        return out

    @staticmethod
    def _to_protos(column: str, values: Sequence[Any], kind: ValueType) -> list[ValueProto]:
        accepted = _ACCEPTED.get(kind)
        for value in values:
            if value is None:
                raise OnlineRequestError(f"entity column {column!r} contains null")
            if accepted is not None and (
                not isinstance(value, accepted)
                or (isinstance(value, bool) and bool not in accepted)
            ):
                raise OnlineRequestError(
                    f"entity column {column!r} expects {kind.name} values, "
                    f"got {type(value).__name__} {value!r}"
                )
            if kind in _INTS and not -_INT_RANGE[kind] <= value < _INT_RANGE[kind]:
                raise OnlineRequestError(
                    f"entity column {column!r}: {value} is out of {kind.name} range"
                )
        field = _DIRECT.get(kind)
        if field is not None:  # checked above: the proto Feast would build, built directly
            return [ValueProto(**{field: value}) for value in values]
        try:
            return python_values_to_proto_values(list(values), kind)
        except (TypeError, ValueError, OverflowError) as exc:
            raise OnlineRequestError(f"entity column {column!r}: {exc}") from exc

    def _keys(
        self, view: _ViewRead, protos: Mapping[str, list[ValueProto]], rows: int
    ) -> list[bytes]:
        columns = [protos[k] for k in view.join_keys]
        suffix = self._project.encode() if self._kind == "redis" else b""
        return [
            serialize_entity_key(
                EntityKeyProto(join_keys=view.join_keys, entity_values=[c[i] for c in columns]),
                entity_key_serialization_version=self._key_version,
            )
            + suffix
            for i in range(rows)
        ]

    # -- online store reads --------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # No detect_types: event_ts comes back as stored (epoch seconds) and is formatted below.
            conn = sqlite3.connect(self._db_path, check_same_thread=False, cached_statements=256)
            self._local.conn = conn
        return conn

    def _read_sqlite(
        self, plan: _Plan, keys: list[list[bytes]]
    ) -> list[dict[bytes, tuple[dict[str, bytes], Any]]]:
        # One statement for every view (UNION ALL); sqlite3 caches the prepared statement by text.
        params: list[bytes] = []
        counts = []
        for view_keys in keys:
            unique = list(dict.fromkeys(view_keys))
            params.extend(unique)
            counts.append(len(unique))
        sql = self._sql.get((plan.views, *counts))
        if sql is None:
            sql = self._sql[(plan.views, *counts)] = " UNION ALL ".join(
                f"SELECT {i}, entity_key, feature_name, value, event_ts FROM "
                f'"{view.table.replace(chr(34), chr(34) * 2)}" '
                f"WHERE entity_key IN ({','.join('?' * n)})"
                for i, (view, n) in enumerate(zip(plan.views, counts, strict=True))
            )
            if len(self._sql) > 4096:
                self._sql.clear()
        found: list[dict[bytes, tuple[dict[str, bytes], Any]]] = [{} for _ in plan.views]
        try:
            rows = self._connection().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # applied but never materialized: nothing found
                return found
            raise
        for i, key, name, value, ts in rows:
            entry = found[i].get(key)
            if entry is None:
                entry = found[i][key] = ({}, ts)
            entry[0][name] = value
        # Feast keeps the event_ts of the last row read for an entity; rows of one entity share it.
        return found

    def _read_redis(
        self, plan: _Plan, keys: list[list[bytes]]
    ) -> list[dict[bytes, tuple[dict[str, bytes], Any]]]:
        with self._redis.pipeline(transaction=False) as pipe:
            for view, view_keys in zip(plan.views, keys, strict=True):
                for key in dict.fromkeys(view_keys):
                    pipe.hmget(key, view.redis_fields)
            replies = iter(pipe.execute())
        found: list[dict[bytes, tuple[dict[str, bytes], Any]]] = []
        for view, view_keys in zip(plan.views, keys, strict=True):
            per_key = {}
            for key in dict.fromkeys(view_keys):
                values = next(replies)
                # Feast's Redis store reports every requested feature of any key as found
                # (empty value when absent), with the stored timestamp or the epoch.
                per_key[key] = (
                    dict(zip(view.features, values[:-1], strict=True)),
                    ("redis", values[-1]),
                )
            found.append(per_key)
        return found

    # -- response ----------------------------------------------------------------------------

    def _timestamp(self, raw: Any) -> str:
        text = self._ts_cache.get(raw)
        if text is None:
            text = self._format_ts(raw)
            if len(self._ts_cache) > 100_000:  # a pure function of raw: bounded, never stale
                self._ts_cache.clear()
            self._ts_cache[raw] = text
        return text

    @staticmethod
    def _format_ts(raw: Any) -> str:
        ts = Timestamp()
        if isinstance(raw, tuple):  # Redis: a serialized Timestamp, read as Feast's store does
            stored = Timestamp()
            if raw[1]:
                stored.ParseFromString(raw[1])
            seconds = stored.seconds + stored.nanos / 1_000_000_000.0
            ts.FromDatetime(datetime.fromtimestamp(seconds, tz=UTC))
        elif isinstance(raw, int | float):
            # Feast's SQLite store reads event_ts through its "timestamp" converter
            # (datetime.fromtimestamp, local time) and then labels it UTC: do the same.
            ts.FromDatetime(datetime.fromtimestamp(int(raw)).replace(tzinfo=UTC))
        elif raw is not None:
            value = raw.decode() if isinstance(raw, bytes) else str(raw)
            if value.isdigit():  # epoch seconds stored as text
                return OnlineReader._format_ts(int(value))
            dt = datetime.fromisoformat(value)
            ts.FromDatetime(dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC))
        return _timestamp_to_str(ts)

    def _columns(
        self, view: _ViewRead, keys: list[bytes], found: dict[bytes, tuple[dict[str, bytes], Any]]
    ) -> list[dict[str, Any]]:
        entries = [found.get(key) for key in keys]
        stamps = [_EPOCH if e is None else self._timestamp(e[1]) for e in entries]
        decoded: dict[bytes | None, Any] = {}  # one decode per distinct stored value
        columns = []
        for name in view.features:
            values: list[Any] = []
            statuses: list[str] = []
            for entry in entries:
                if entry is None or name not in entry[0]:
                    values.append(None)
                    statuses.append(_NOT_FOUND)
                    continue
                blob = entry[0][name]
                native = decoded.get(blob, decoded)
                if native is decoded:
                    proto = ValueProto.FromString(blob) if blob else ValueProto()
                    native = decoded[blob] = _value_to_native(proto)
                values.append(native)
                statuses.append(_PRESENT)
            columns.append({"values": values, "statuses": statuses, "event_timestamps": stamps[:]})
        return columns

    def _feast_read(
        self,
        features: Sequence[str] | str,
        entities: Mapping[str, Sequence[Any]],
        full_feature_names: bool,
        include_feature_view_version_metadata: bool = False,
    ) -> dict[str, Any]:
        from feast.feature_server_utils import convert_response_to_dict

        target = (
            self.store.get_feature_service(features, allow_cache=True)
            if isinstance(features, str)
            else list(features)
        )
        _sqlite_time.register()  # Feast's own read parses event_ts through it
        try:
            response = self.store.get_online_features(
                features=target,
                entity_rows={k: list(v) for k, v in entities.items()},
                full_feature_names=full_feature_names,
                include_feature_view_version_metadata=include_feature_view_version_metadata,
            )
        except FeastError as exc:
            raise OnlineRequestError(str(exc)) from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise OnlineRequestError(str(exc)) from exc
        return convert_response_to_dict(response.proto)


def _rebuild(repo_path: str, max_entities: int) -> OnlineReader:
    return OnlineReader(repo_path, max_entities=max_entities)
