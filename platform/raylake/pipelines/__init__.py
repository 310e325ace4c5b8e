"""ETL pipelines in the spirit of Delta Live Tables: expectations, incremental, exactly-once."""

from raylake.pipelines.definition import (
    Expectation,
    Files,
    Pipeline,
    TableInput,
    expect,
    expect_or_drop,
    expect_or_fail,
    pipeline,
)
from raylake.pipelines.runner import PipelineRunner

__all__ = [
    "Expectation",
    "Files",
    "Pipeline",
    "PipelineRunner",
    "TableInput",
    "expect",
    "expect_or_drop",
    "expect_or_fail",
    "pipeline",
]
