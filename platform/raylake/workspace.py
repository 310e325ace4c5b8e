"""The Workspace: a thin facade wiring settings, compute, catalog, tables and pipelines."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from raylake.catalog import CatalogStore, PipelineRun
from raylake.catalog.api import Catalog, Lineage
from raylake.compute import RayRuntime, SparkOnRay
from raylake.names import DEFAULT_CATALOG, DEFAULT_SCHEMA
from raylake.pipelines import Pipeline, PipelineRunner
from raylake.pipelines.runner import Progress
from raylake.settings import Settings, load_settings
from raylake.tables import Table
from raylake.tables.managed import ManagedTables

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

    from raylake.dashboards.api import Dashboards
    from raylake.features._api import Features
    from raylake.governance import AuditEvent, Governance, Grant, Guard
    from raylake.governance.principals import Principals
    from raylake.governance.tokens import Tokens
    from raylake.jobs.api import Jobs
    from raylake.registry import ModelRegistry
    from raylake.serving import Endpoint, Endpoints
    from raylake.serving._monitor import Monitor
    from raylake.sql import SqlRunner
    from raylake.training import SweepResult


class Workspace:
    """One raylake workspace. Ray and Spark start on first use; ``close()`` stops only what
    this workspace started."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self._ray = RayRuntime(settings)
        self._spark = SparkOnRay(settings, self._ray)
        self._store = CatalogStore(settings.catalog_url)
        self._store.create_schema(DEFAULT_CATALOG, DEFAULT_SCHEMA, settings.user)
        self._tables = ManagedTables(settings, self._store, self.spark)
        self.catalog = Catalog(self._store, self._tables, settings.user, lambda: self.models)
        self._pipelines = PipelineRunner(self._store, self._tables, self.spark, settings.user)

    # -- compute -------------------------------------------------------------------------------
    def ray(self) -> None:
        """Make sure Ray is up (started locally or joined at ``ray_address``)."""
        self._ray.ensure()

    def spark(self) -> SparkSession:
        """The workspace's one SparkSession, running on Ray through RayDP."""
        return self._spark.session()

    # -- tables --------------------------------------------------------------------------------
    def write_table(
        self,
        name: str,
        data: Any,
        mode: str = "append",
        merge_on: Sequence[str] | str | None = None,
        schema_evolution: bool = False,
    ) -> int:
        """Write pandas, Arrow, Ray or Spark data to a Delta table; returns the new version."""
        return self._tables.write(name, data, mode, merge_on, schema_evolution)

    def table(self, name: str) -> Table:
        return self._tables.get(name)

    def lineage(self, name: str, version: int | None = None) -> Lineage:
        return self.catalog.lineage(name, version)

    # -- pipelines -----------------------------------------------------------------------------
    def run_pipeline(
        self,
        pipeline: Pipeline,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> PipelineRun:
        """Run a pipeline once over its new input. Setting ``stop`` from another thread cancels
        the run's Spark jobs; the run then fails (``PipelineStoppedError``) with nothing written."""
        return self._pipelines.run(pipeline, progress, stop)

    def pipeline_runs(self, pipeline: str | None = None, limit: int = 50) -> list[PipelineRun]:
        return self._store.list_runs(pipeline, limit)

    # -- training and models -------------------------------------------------------------------
    def sweep(
        self,
        trainable: Callable[..., Any],
        param_space: Mapping[str, Any],
        num_samples: int = 1,
        metric: str | None = None,
        mode: str = "max",
        experiment: str | None = None,
        data: Any = None,
        max_concurrent: int | None = None,
        scheduler: Any = None,
        search_alg: Any = None,
        cpus_per_trial: float = 1,
        autolog: bool = False,
        progress: bool = True,
        time_budget_s: float | None = None,
    ) -> SweepResult:
        """Run a Ray Tune sweep tracked in MLflow (see ``raylake.training``).

        With ``time_budget_s``, Tune stops the trials once that many seconds have passed since
        the call and the sweep fails with ``SweepTimeoutError`` (the MLflow runs logged so far
        stay, the sweep's parent run is marked failed)."""
        from raylake.registry.store import artifact_root
        from raylake.training import SweepContext, run_sweep  # imports Ray Tune: only when used

        uri = self.settings.mlflow_tracking_uri
        ctx = SweepContext(
            uri,
            artifact_root(self.settings.home, uri),
            self.settings.home / "tune",
            self._store,
            self.ray,
            self.table,
        )
        return run_sweep(
            ctx,
            trainable,
            param_space,
            num_samples=num_samples,
            metric=metric,
            mode=mode,
            experiment=experiment,
            data=data,
            max_concurrent=max_concurrent,
            scheduler=scheduler,
            search_alg=search_alg,
            cpus_per_trial=cpus_per_trial,
            autolog=autolog,
            progress=progress,
            time_budget_s=time_budget_s,
        )

    @cached_property
    def models(self) -> ModelRegistry:
        """The MLflow model registry on the workspace's tracking store."""
        from raylake.registry import ModelRegistry  # imports MLflow: only when used
        from raylake.registry.store import artifact_root

        uri = self.settings.mlflow_tracking_uri
        root = artifact_root(self.settings.home, uri)
        return ModelRegistry(uri, self._store, self.settings.user, root, self._tables.guard)

    # -- features (raylake.features) ------------------------------------------------------------
    @cached_property
    def features(self) -> Features:
        """The feature store: Feast feature views over this workspace's tables."""
        from raylake.features._api import Features  # imports Feast: only when used

        return Features(self.settings, self._tables, self._store, self.ray)

    # -- SQL (raylake.sql) ---------------------------------------------------------------------
    def sql(
        self,
        query: str,
        params: Mapping[str, Any] | None = None,
        engine: str | None = None,
        read_only: bool = True,
    ) -> pa.Table:
        """Run SQL over catalog tables; an Arrow table (see ``raylake.sql``).

        ``engine``: ``None``/``"auto"`` (in-process DuckDB or DataFusion unless the data is
        large, then Spark), ``"duckdb"``, ``"datafusion"`` or ``"spark"``. ``params`` bind
        ``:name`` placeholders as values, never as SQL text.
        """
        return self._sql.run(query, params, engine, read_only)

    @cached_property
    def _sql(self) -> SqlRunner:
        from raylake.sql import SqlRunner  # imports sqlglot: only when used

        return SqlRunner(self._tables, self._store, self.write_table, self.spark)

    # -- jobs and dashboards (raylake.jobs, raylake.dashboards) --------------------------------
    @cached_property
    def jobs(self) -> Jobs:
        """Jobs: manual runs, the trigger scheduler and run history (see ``raylake.jobs``)."""
        from raylake.jobs.api import Jobs

        return Jobs(self)

    @cached_property
    def dashboards(self) -> Dashboards:
        """Saved SQL queries with charts, rendered as HTML (see ``raylake.dashboards``)."""
        from raylake.dashboards.api import Dashboards

        return Dashboards(self._store, self.sql, self.settings.user)

    # -- serving and monitoring (raylake.serving) ----------------------------------------------
    @cached_property
    def endpoints(self) -> Endpoints:
        """Model endpoints on Ray Serve: ``list``, ``get``, ``refresh``, ``delete``, ``logs``."""
        from raylake.serving import Endpoints  # imports Ray Serve: only when used

        return Endpoints(
            self.settings,
            lambda: self.models,
            self.ray,
            lambda: self.features.repo_path,
            guard=self.guard,
        )

    def serve(
        self,
        name: str,
        model: str = "models:/main.models.churn@champion",
        features: Sequence[str] | None = None,
        entity_keys: Sequence[str] | None = None,
        num_replicas: int = 1,
        autoscaling: Mapping[str, Any] | None = None,
        max_batch_size: int | None = None,
        *,
        challenger: str | None = None,
        traffic: Mapping[str, float] | None = None,
        missing_entities: str = "null",
        monitoring: bool = True,
    ) -> Endpoint:
        """Deploy a registry model as ``POST /endpoints/<name>/invocations`` (see
        ``raylake.serving``); ``challenger`` + ``traffic`` split requests between versions;
        ``monitoring=False`` skips the inference table and per-request metrics."""
        return self.endpoints.deploy(
            name,
            model,
            features=features,
            entity_keys=entity_keys,
            num_replicas=num_replicas,
            autoscaling=autoscaling,
            max_batch_size=max_batch_size,
            challenger=challenger,
            traffic=traffic,
            missing_entities=missing_entities,
            monitoring=monitoring,
        )

    def monitor(self, name: str) -> Monitor:
        """Monitoring data of endpoint ``name``: its inference table and drift reports
        (``ws.monitor(name).drift_report(window="1h")``)."""
        from raylake.serving._monitor import Monitor

        return Monitor(name, self._tables, self._store, self.settings, lambda: self.models)

    # -- governance (raylake.governance) ------------------------------------------------------
    @property
    def guard(self) -> Guard:
        """Privilege checks and audit events for other components (``guard.require(...)``,
        ``guard.event(...)``); checks are no-ops unless ``settings.auth``."""
        return self._tables.guard

    @cached_property
    def _governance(self) -> Governance:
        from raylake.governance import Governance

        return Governance(self._tables.guard, self._tables)

    @property
    def principals(self) -> Principals:
        """Users, groups (with members) and service principals."""
        return self._governance.principals

    @property
    def tokens(self) -> Tokens:
        """API tokens: ``create`` (secret shown once), ``list``, ``revoke``, ``authenticate``."""
        return self._governance.tokens

    def grant(self, privilege: str, securable_type: str, name: str, principal: str) -> Grant:
        """Grant e.g. ``("SELECT", "table", "sales.orders", "analysts")``; needs MANAGE."""
        return self._governance.grant(privilege, securable_type, name, principal)

    def revoke(self, privilege: str, securable_type: str, name: str, principal: str) -> bool:
        return self._governance.revoke(privilege, securable_type, name, principal)

    def show_grants(
        self,
        name: str | None = None,
        *,
        securable_type: str | None = None,
        principal: str | None = None,
        inherited: bool = False,
    ) -> list[Grant]:
        """Grants on a securable or held by a principal (a bare ``name`` matches either)."""
        return self._governance.show_grants(
            name, securable_type=securable_type, principal=principal, inherited=inherited
        )

    def audit(
        self,
        principal: str | None = None,
        action: str | None = None,
        since: Any = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Audit events, newest first (``since``: datetime, timedelta or ISO string)."""
        return self._governance.audit(principal, action, since, limit)

    def audit_table(self) -> int:
        """Export new audit events to the Delta table ``main.system.audit``; its version."""
        return self._governance.audit_table()

    # -- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        self._spark.stop()
        self._ray.stop()
        self._store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(**overrides: Any) -> Workspace:
    """Open the workspace described by settings (keyword arguments override everything)."""
    return Workspace(load_settings(**overrides))
