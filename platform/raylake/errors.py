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


class SettingsError(RaylakeError, ValueError):
    """A setting has an invalid value."""


class SweepError(RaylakeError):
    """A sweep could not complete (e.g. every trial failed)."""


class InvalidSweepError(SweepError, ValueError):
    """A sweep's trainable, ``param_space``, ``metric`` or ``mode`` is wrong; no trial ran."""


class MetricNotReportedError(SweepError):
    """The trials report results, but none of them contains the sweep's ``metric``."""


class ModelNotFoundError(RaylakeError, LookupError):
    """The registered model, its version or its alias does not exist."""


class SignatureMissingError(RaylakeError):
    """A model has no MLflow signature, so it cannot be registered (serving could not validate
    requests against it)."""
