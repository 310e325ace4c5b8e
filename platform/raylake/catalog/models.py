"""SQLAlchemy models of the catalog. Changes here need an Alembic revision in ``migrations/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always hands back aware UTC datetimes.

    SQLite keeps no offset: without this, rows read back carried naive datetimes (while new
    rows had aware ones) and a non-UTC aware value was stored as its local wall-clock time.
    The column type in the database is unchanged, so no migration is needed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class CatalogRow(Base):
    __tablename__ = "catalogs"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SchemaRow(Base):
    __tablename__ = "schemas"
    __table_args__ = (UniqueConstraint("catalog_name", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    catalog_name: Mapped[str] = mapped_column(ForeignKey("catalogs.name", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    owner: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TableRow(Base):
    __tablename__ = "tables"
    __table_args__ = (UniqueConstraint("catalog_name", "schema_name", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    catalog_name: Mapped[str] = mapped_column(String(255))
    schema_name: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    location: Mapped[str] = mapped_column(String(2048), unique=True)
    format: Mapped[str] = mapped_column(String(32), default="delta")
    owner: Mapped[str] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


_RUNNING = text("status = 'RUNNING'")


class PipelineRunRow(Base):
    __tablename__ = "pipeline_runs"
    __table_args__ = (
        UniqueConstraint("pipeline", "seq"),
        # At most one RUNNING run per pipeline, enforced by the database itself so two
        # processes cannot both take the same new files (SQLite and PostgreSQL partial index).
        Index(
            "ux_pipeline_runs_one_running",
            "pipeline",
            unique=True,
            sqlite_where=_RUNNING,
            postgresql_where=_RUNNING,
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(255), index=True)
    target: Mapped[str] = mapped_column(String(767))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rows_in: Mapped[int | None] = mapped_column(Integer)
    rows_out: Mapped[int | None] = mapped_column(Integer)
    dropped: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)
    target_version: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    user: Mapped[str] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))  # where the run's process lives
    pid: Mapped[int | None] = mapped_column(Integer)


class IngestedFileRow(Base):
    __tablename__ = "ingested_files"
    __table_args__ = (UniqueConstraint("pipeline", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(255), index=True)
    path: Mapped[str] = mapped_column(String(2048))
    size: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[str] = mapped_column(String(64))
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LineageEdgeRow(Base):
    __tablename__ = "lineage_edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source_kind: Mapped[str] = mapped_column(String(32))
    source_name: Mapped[str] = mapped_column(String(767), index=True)
    source_version: Mapped[int | None] = mapped_column(Integer)
    target_kind: Mapped[str] = mapped_column(String(32))
    target_name: Mapped[str] = mapped_column(String(767), index=True)
    target_version: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- jobs and dashboards (raylake.jobs, raylake.dashboards) -----------------------------------


class JobRow(Base):
    """A job the scheduler or a manual run has seen: where it is defined, and its triggers."""

    __tablename__ = "jobs"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str | None] = mapped_column(String(2048))  # FILE.py[:NAME] or FILE.yaml
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # tasks and triggers
    owner: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobTriggerRow(Base):
    """Per-trigger state that survives scheduler restarts.

    ``seq`` counts firings; the scheduler moves it with a compare-and-swap in the same
    transaction that inserts the job run, so two schedulers cannot both fire one event.
    """

    __tablename__ = "job_triggers"

    job: Mapped[str] = mapped_column(String(255), primary_key=True)
    trigger_key: Mapped[str] = mapped_column(String(767), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[str | None] = mapped_column(String(767))  # last fire time / version seen
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobRunRow(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        # One run per trigger firing: a second scheduler's insert for the same firing fails.
        UniqueConstraint("job", "trigger_key", "trigger_seq", name="uq_job_runs_firing"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(32))  # manual, cron, table, model_alias
    trigger_key: Mapped[str | None] = mapped_column(String(767))
    trigger_seq: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    user: Mapped[str] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)


class TaskRunRow(Base):
    __tablename__ = "task_runs"
    __table_args__ = (UniqueConstraint("job_run_id", "task"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_run_id: Mapped[str] = mapped_column(
        ForeignKey("job_runs.id", ondelete="CASCADE"), index=True
    )
    task: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    logs: Mapped[str | None] = mapped_column(Text)


class DashboardRow(Base):
    __tablename__ = "dashboards"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    title: Mapped[str | None] = mapped_column(String(1024))
    queries: Mapped[list[Any]] = mapped_column(JSON, default=list)
    owner: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# -- governance (raylake.governance) ---------------------------------------------------------


class PrincipalRow(Base):
    """A user, group or service principal known to the workspace (by unique name)."""

    __tablename__ = "principals"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # user, group, service_principal
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GroupMemberRow(Base):
    __tablename__ = "group_members"

    group_name: Mapped[str] = mapped_column(
        ForeignKey("principals.name", ondelete="CASCADE"), primary_key=True
    )
    member: Mapped[str] = mapped_column(
        ForeignKey("principals.name", ondelete="CASCADE"), primary_key=True, index=True
    )


class ApiTokenRow(Base):
    """An API token: only the SHA-256 of the secret is kept (tokens carry 256 random bits, so
    a salt or a slow hash adds nothing; the hash doubles as the lookup key)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    principal: Mapped[str] = mapped_column(
        ForeignKey("principals.name", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class GrantRow(Base):
    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("securable_type", "securable_name", "privilege", "principal"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    securable_type: Mapped[str] = mapped_column(String(32))
    securable_name: Mapped[str] = mapped_column(String(767), index=True)
    privilege: Mapped[str] = mapped_column(String(32))
    principal: Mapped[str] = mapped_column(String(255), index=True)
    granted_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditRow(Base):
    """One audited event: who did what to which securable, when, and whether it was allowed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    principal: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    securable_type: Mapped[str | None] = mapped_column(String(32))
    securable_name: Mapped[str | None] = mapped_column(String(767))
    outcome: Mapped[str] = mapped_column(String(16))  # allowed, denied, ok, error
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
