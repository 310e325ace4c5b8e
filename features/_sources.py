"""Feast sources on raylake tables: a FileSource in Delta format named after the table.

A source is often defined in a module before any workspace exists, so it carries the catalog
name (tag ``raylake.table``) and a placeholder path; ``Features.apply`` resolves the table's
storage location from the catalog and writes it into the source before Feast sees it. The
registry then holds the real location, which is why the plain ``feast`` CLI works on the repo.
"""

from __future__ import annotations

from feast import FileSource
from feast.data_format import DeltaFormat
from feast.data_source import DataSource

from raylake.names import parse_table_name

TABLE_TAG = "raylake.table"
PLACEHOLDER_SCHEME = "raylake://"


def table_source(
    name: str,
    timestamp_field: str,
    created_timestamp_column: str | None = None,
    field_mapping: dict[str, str] | None = None,
    *,
    description: str = "",
    owner: str = "",
) -> FileSource:
    """A Feast source reading the raylake Delta table ``name`` (``catalog.schema.table``).

    ``timestamp_field`` is the event time column used for point-in-time joins;
    ``created_timestamp_column`` breaks ties between rows with the same event time.
    """
    full = str(parse_table_name(name))
    return FileSource(
        name=full,
        path=f"{PLACEHOLDER_SCHEME}{full}",
        timestamp_field=timestamp_field,
        created_timestamp_column=created_timestamp_column or "",
        field_mapping=dict(field_mapping or {}),
        file_format=DeltaFormat(),
        tags={TABLE_TAG: full},
        description=description,
        owner=owner,
    )


def table_of(source: DataSource | None) -> str | None:
    """The catalog table a source reads, or None for sources raylake did not make."""
    if source is None:
        return None
    return (source.tags or {}).get(TABLE_TAG)


def point_at(source: FileSource, location: str) -> None:
    """Make ``source`` read the Delta table at ``location`` (in place: views share it)."""
    source.file_options.uri = location
