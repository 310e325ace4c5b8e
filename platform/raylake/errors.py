"""Every named error the raylake SDK raises.

All derive from :class:`RaylakeError` so callers can catch one type; each subclass names one
kind of problem so callers (and the CLI) can react to it precisely.
"""

from __future__ import annotations


class RaylakeError(Exception):
    """Base class of every raylake error."""


class InvalidNameError(RaylakeError, ValueError):
    """A catalog, schema or table name is not a valid ``catalog.schema.table`` name."""


class TableNotFoundError(RaylakeError, LookupError):
    """The named table is not registered in the catalog."""


class TableExistsError(RaylakeError):
    """A table is already registered under that name (or at that location)."""


class SchemaNotFoundError(RaylakeError, LookupError):
    """The named catalog schema does not exist."""


class SchemaMismatchError(RaylakeError):
    """The data written does not match the table's schema (and evolution was not allowed)."""


class UnsupportedDataError(RaylakeError, TypeError):
    """``data`` is not a pandas DataFrame, pyarrow Table, Ray Dataset or Spark DataFrame."""


class InvalidArgumentError(RaylakeError, ValueError):
    """An argument has a value the operation cannot accept (e.g. an unknown write mode)."""


class CommitConflictError(RaylakeError):
    """A concurrent writer committed first and retrying this write would be wrong."""


class VersionNotFoundError(RaylakeError, LookupError):
    """The requested table version or timestamp does not exist in the table's history."""


class ExpectationFailedError(RaylakeError):
    """A pipeline expectation with action ``fail`` was violated; nothing was written."""


class PipelineError(RaylakeError):
    """A pipeline is defined wrongly or its run could not complete."""


class PipelineRunningError(PipelineError):
    """Another run of the same pipeline is in progress; running both could ingest twice."""


class PipelineStoppedError(PipelineError):
    """A pipeline run was told to stop (e.g. its job task timed out): its Spark jobs were
    cancelled and nothing was committed."""


class SettingsError(RaylakeError, ValueError):
    """A setting has an invalid value."""


class SweepError(RaylakeError):
    """A sweep could not complete (e.g. every trial failed)."""


class InvalidSweepError(SweepError, ValueError):
    """A sweep's trainable, ``param_space``, ``metric`` or ``mode`` is wrong; no trial ran."""


class MetricNotReportedError(SweepError):
    """The trials report results, but none of them contains the sweep's ``metric``."""


class SweepTimeoutError(SweepError, TimeoutError):
    """A sweep ran out of its ``time_budget_s``: Ray Tune stopped its trials."""


class ModelNotFoundError(RaylakeError, LookupError):
    """The registered model, its version or its alias does not exist."""


class SignatureMissingError(RaylakeError):
    """A model has no MLflow signature, so it cannot be registered (serving could not validate
    requests against it)."""


class JobError(RaylakeError):
    """A job run could not complete (a task failed after its retries, or timed out)."""


class InvalidJobError(JobError, ValueError):
    """A job is defined wrongly (a cycle, an unknown dependency, a duplicate task name, a bad
    trigger or task kind); nothing ran."""


class JobNotFoundError(JobError, LookupError):
    """No job, job run or task run by that name or id."""


class DashboardError(RaylakeError):
    """A dashboard is defined wrongly (bad chart spec, unknown column) or cannot be rendered."""


class DashboardNotFoundError(DashboardError, LookupError):
    """No dashboard by that name."""


class InferenceLogError(RaylakeError):
    """An inference table write failed; the records stay buffered for the next flush."""


class NoInferencesError(RaylakeError, LookupError):
    """The endpoint has no inference table (it never logged a request)."""


class EmptyWindowError(NoInferencesError):
    """The inference table has no rows in the requested time window."""


class BaselineNotFoundError(RaylakeError, LookupError):
    """No drift baseline: the model version's lineage leads to no training table, and none
    was given."""


class FeatureDefinitionError(RaylakeError, ValueError):
    """A feature view, entity or source does not match its table (missing column, wrong type,
    missing join key) or is not a Feast object raylake can apply; nothing was applied."""


class FeatureViewNotFoundError(RaylakeError, LookupError):
    """No feature view (or feature service) by that name is applied in the workspace."""


class InvalidFeatureRefError(RaylakeError, ValueError):
    """A feature reference is not ``view:feature`` or names a feature the view does not have."""


class EntityKeyMissingError(RaylakeError, ValueError):
    """An entity row lacks a join key the requested feature views need."""


class SqlError(RaylakeError, ValueError):
    """A SQL statement cannot run: bad syntax, an unknown column, a missing or unused
    parameter, or a statement ``ws.sql`` does not support."""


class ReadOnlyError(SqlError):
    """A statement that writes (anything but SELECT/WITH) ran where writes are not allowed."""


class PermissionDeniedError(RaylakeError, PermissionError):
    """The acting principal lacks the privilege the action needs (auth is on); nothing changed."""


class PrincipalNotFoundError(RaylakeError, LookupError):
    """No user, group or service principal by that name."""


class PrincipalExistsError(RaylakeError):
    """A principal by that name already exists."""


class InvalidTokenError(RaylakeError):
    """An API token is missing, malformed, unknown, revoked or expired (one message for all,
    so a caller learns nothing about which)."""


class EntityTimestampError(RaylakeError, ValueError):
    """The entity rows of a training set lack the event timestamp column, or it does not hold
    datetimes."""


class OnlineRequestError(RaylakeError, ValueError):
    """A request for online features is malformed: unknown or missing entity columns, values of
    the wrong type, empty or uneven entity columns."""


class UnknownFeatureError(OnlineRequestError, LookupError):
    """An online request names a feature, feature view or feature service the registry lacks."""


class TooManyEntitiesError(OnlineRequestError):
    """An online request asks for more entity rows than the server's per-request limit."""


class EndpointNotFoundError(RaylakeError, LookupError):
    """No serving endpoint has that name."""


class EndpointError(RaylakeError):
    """A serving endpoint could not be deployed, updated or deleted (e.g. Ray Serve refused it)."""


class RunNotFoundError(RaylakeError, LookupError):
    """No MLflow run or experiment with that id in the workspace's tracking store."""
