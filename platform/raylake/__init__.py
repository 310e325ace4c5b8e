"""raylake: an open-source ML platform on Ray — Delta tables, catalog, pipelines and more."""

from raylake.errors import (
    CommitConflictError,
    ExpectationFailedError,
    InvalidArgumentError,
    InvalidNameError,
    InvalidSweepError,
    MetricNotReportedError,
    ModelNotFoundError,
    PipelineError,
    RaylakeError,
    SchemaMismatchError,
    SchemaNotFoundError,
    SettingsError,
    SignatureMissingError,
    SweepError,
    TableExistsError,
    TableNotFoundError,
    UnsupportedDataError,
    VersionNotFoundError,
)
from raylake.pipelines import (
    Expectation,
    Files,
    Pipeline,
    TableInput,
    expect,
    expect_or_drop,
    expect_or_fail,
    pipeline,
)
from raylake.settings import Settings
from raylake.workspace import Workspace, connect

__version__ = "0.1.0"

__all__ = [
    "CommitConflictError",
    "Expectation",
    "ExpectationFailedError",
    "Files",
    "InvalidArgumentError",
    "InvalidNameError",
    "InvalidSweepError",
    "MetricNotReportedError",
    "ModelNotFoundError",
    "Pipeline",
    "PipelineError",
    "RaylakeError",
    "SchemaMismatchError",
    "SchemaNotFoundError",
    "Settings",
    "SettingsError",
    "SignatureMissingError",
    "SweepError",
    "TableExistsError",
    "TableInput",
    "TableNotFoundError",
    "UnsupportedDataError",
    "VersionNotFoundError",
    "Workspace",
    "connect",
    "expect",
    "expect_or_drop",
    "expect_or_fail",
    "pipeline",
]
