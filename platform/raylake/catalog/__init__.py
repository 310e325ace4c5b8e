"""The catalog: names, owners, tags, pipeline runs and lineage, in one SQL database."""

from raylake.catalog.records import LineageEdge, PipelineRun, SchemaInfo, TableInfo
from raylake.catalog.store import CatalogStore

__all__ = ["CatalogStore", "LineageEdge", "PipelineRun", "SchemaInfo", "TableInfo"]
