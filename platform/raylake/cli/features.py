"""``raylake features``: feature views over tables, materialization, online lookups."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from raylake.cli import _render
from raylake.cli._context import JsonOption, workspace
from raylake.cli._loader import load_module
from raylake.errors import FeatureDefinitionError, InvalidArgumentError

app = typer.Typer(
    help="Feature store: Feast feature views over tables, materialization, online lookups.",
    no_args_is_help=True,
)

ViewName = Annotated[str, typer.Argument(help="Feature view name.")]


def _info_dict(info: Any) -> dict[str, Any]:
    out = {f.name: getattr(info, f.name) for f in dataclasses.fields(info) if f.name != "view"}
    out["ttl"] = info.ttl.total_seconds() if info.ttl else None
    return out


@app.command("list")
def list_views(json_out: JsonOption = False) -> None:
    """List applied feature views: source table, entities, features, TTL."""
    with workspace() as ws:
        views = ws.features.list()
    if json_out:
        _render.print_json([_info_dict(v) for v in views])
        return
    if not views:
        _render.show("no feature views (apply some: raylake features apply FILE.py)")
        return
    rows = [
        (v.name, v.table or v.source, ", ".join(v.entities), ", ".join(v.features), v.ttl)
        for v in views
    ]
    _render.show(_render.table(("view", "source", "entities", "features", "ttl"), rows))


@app.command("show")
def show(name: ViewName, json_out: JsonOption = False) -> None:
    """Describe one feature view and the table version last materialized."""
    with workspace() as ws:
        info = ws.features.get(name)
        materialized = ws.features.materialized_version(name)
    if json_out:
        _render.print_json({**_info_dict(info), "materialized": materialized})
        return
    features = ", ".join(f"{k} ({t})" for k, t in info.features.items())
    done = f"{materialized[0]} v{materialized[1]}" if materialized else "never"
    _render.show(
        _render.fields(
            [
                ("view", info.name),
                ("table", info.table or info.source),
                ("timestamp", info.timestamp_field),
                ("entities", f"{', '.join(info.entities)} (keys: {', '.join(info.join_keys)})"),
                ("features", features),
                ("ttl", info.ttl),
                ("online", info.online),
                ("materialized", done),
            ]
        )
    )


@app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="A Python file defining Feast objects.")],
) -> None:
    """Apply the Entity, FeatureView, FeatureService and source objects FILE defines."""
    from raylake.features._validate import FEAST_OBJECTS

    module = load_module(file, "features", FeatureDefinitionError)
    objects = list(
        {id(v): v for v in vars(module).values() if isinstance(v, FEAST_OBJECTS)}.values()
    )
    if not objects:
        raise FeatureDefinitionError(f"{file} defines no Feast Entity, FeatureView or service")
    with workspace() as ws:
        views = ws.features.apply(objects)
    names = ", ".join(v.name for v in views) or "none on raylake tables"
    _render.show(f"applied {len(objects)} objects; feature views: {names}")


@app.command("delete")
def delete(name: ViewName) -> None:
    """Remove a feature view from the registry (its table stays)."""
    with workspace() as ws:
        ws.features.delete(name)
    _render.show(f"deleted feature view {name}")


def _when(value: str | None, what: str) -> dt.datetime | None:
    if value is None:
        return None
    from raylake.features._materialize import as_utc

    return as_utc(value, what)


@app.command("materialize")
def materialize(
    start: Annotated[str | None, typer.Option(help="Window start (ISO time).")] = None,
    end: Annotated[str | None, typer.Option(help="Window end (ISO time; default: now).")] = None,
    incremental: Annotated[
        bool, typer.Option("--incremental", help="Start where the last run ended.")
    ] = False,
    view: Annotated[
        list[str] | None, typer.Option("--view", help="Only this view (repeatable).")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Load the latest feature values per entity into the online store, on Ray."""
    end_at = _when(end, "--end") or dt.datetime.now(dt.UTC)
    if incremental == (start is not None):
        raise InvalidArgumentError("give either --start or --incremental")
    with workspace() as ws:
        if incremental:
            done = ws.features.materialize_incremental(end_at, view)
        else:
            done = ws.features.materialize(_when(start, "--start"), end_at, view)
    if json_out:
        _render.print_json(done)
        return
    rows = [(d.view, d.table, d.version, d.start, d.end, d.rows) for d in done]
    _render.show(_render.table(("view", "table", "version", "from", "to", "rows"), rows))


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _row(spec: str) -> dict[str, Any]:
    row = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidArgumentError(f"entity {spec!r}: use key=value[,key=value]")
        row[key.strip()] = _value(value.strip())
    return row


@app.command("online")
def online(
    features: Annotated[
        list[str], typer.Argument(help="view:feature references, or one feature service name.")
    ],
    entity: Annotated[
        list[str], typer.Option("--entity", "-e", help="One entity row: key=value[,key=value].")
    ],
    json_out: JsonOption = False,
) -> None:
    """Look up online feature values, e.g. ``online driver:rides -e driver_id=7``."""
    request: list[str] | str = (
        features[0] if len(features) == 1 and ":" not in features[0] else features
    )
    rows = [_row(e) for e in entity]
    with workspace() as ws:
        out = ws.features.online(request, rows)
    if json_out:
        _render.print_json(out)
        return
    columns = list(out)
    _render.show(_render.table(columns, zip(*(out[c] for c in columns), strict=True)))


@app.command("repo")
def repo() -> None:
    """Print the Feast repo folder (for ``feast -c <folder> ...``)."""
    with workspace() as ws:
        typer.echo(str(ws.features.repo_path))


@app.command("serve")
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default: settings.http_host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: settings.feature_server_port).")
    ] = None,
    max_entities: Annotated[
        int, typer.Option(min=1, help="Most entity rows one request may ask for.")
    ] = 1000,
) -> None:
    """Serve online features over HTTP (Feast's POST /get-online-features JSON) until Ctrl-C."""
    from raylake.features._server import serve as serve_features

    with workspace() as ws:
        settings = ws.features.settings
        bound = settings.feature_server_port if port is None else port
        where = f"http://{host or settings.http_host}:{bound}"
        _render.show(f"feature retrieval API on {where} (docs: {where}/docs); Ctrl-C stops it")
        serve_features(ws.features, host, port, max_entities=max_entities)
