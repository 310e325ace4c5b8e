"""``ws.monitor(endpoint)``: an endpoint's inference table and its drift reports.

Usage::

    monitor = ws.monitor("churn")
    monitor.inferences(window="1h", limit=20)  # logged requests, newest first
    report = monitor.drift_report(window="1h", webhook="http://127.0.0.1:9000/alerts")
    report.drifted, report.html_path, report.table_version
    monitor.drift_history()  # every stored report, one row per feature
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads

from raylake.catalog import CatalogStore
from raylake.errors import (
    BaselineNotFoundError,
    EmptyWindowError,
    InvalidArgumentError,
    InvalidNameError,
    NoInferencesError,
    RaylakeError,
    TableNotFoundError,
)
from raylake.names import DEFAULT_CATALOG, parse_table_name
from raylake.serving import _alerts, _drift, _drift_report
from raylake.serving._monitoring_tables import (
    MONITORING_SCHEMA,
    drift_table_name,
    inference_table_name,
)
from raylake.settings import Settings
from raylake.tables.managed import ManagedTables

log = logging.getLogger(__name__)

PREDICTION = "prediction"
MAX_BASELINE_ROWS = 50_000  # a sample this big pins PSI/KS well; more only costs time
_WINDOW = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

DRIFT_SCHEMA = pa.schema(
    [
        pa.field("report_id", pa.string()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("endpoint", pa.string()),
        pa.field("window", pa.string()),
        pa.field("window_start", pa.timestamp("us", tz="UTC")),
        pa.field("window_end", pa.timestamp("us", tz="UTC")),
        pa.field("model_name", pa.string()),
        pa.field("model_version", pa.int64()),
        pa.field("baseline", pa.string()),
        pa.field("feature", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("is_prediction", pa.bool_()),
        pa.field("n_baseline", pa.int64()),
        pa.field("n_recent", pa.int64()),
        pa.field("psi", pa.float64()),
        pa.field("ks_stat", pa.float64()),
        pa.field("ks_pvalue", pa.float64()),
        pa.field("drifted", pa.bool_()),
    ]
)


def parse_window(window: str | dt.timedelta) -> dt.timedelta:
    """``"90s"``, ``"30m"``, ``"1h"``, ``"7d"``, ``"2w"`` (or a timedelta) as a timedelta."""
    if isinstance(window, dt.timedelta):
        delta = window
    else:
        match = _WINDOW.match(str(window))
        if not match:
            raise InvalidArgumentError(
                f"window {window!r} is not a duration like '30m', '1h' or '7d'"
            )
        delta = dt.timedelta(**{_UNITS[match[2]]: float(match[1])})
    if delta <= dt.timedelta(0):
        raise InvalidArgumentError(f"window {window!r} must be longer than zero")
    return delta


@dataclass(frozen=True)
class DriftReport:
    """One drift report: per-feature results, where its HTML is, the drift table version."""

    report_id: str
    endpoint: str
    ts: dt.datetime
    window: str
    window_start: dt.datetime
    window_end: dt.datetime
    model_name: str | None
    model_version: int | None
    baseline: str
    n_recent: int
    n_baseline: int
    features: list[_drift.FeatureDrift]
    skipped: list[str] = field(default_factory=list)  # columns with nothing to compare
    unmatched: list[str] = field(default_factory=list)  # request columns not in the baseline
    notes: list[str] = field(default_factory=list)
    html_path: Path | None = None
    table_version: int | None = None
    alert_error: str | None = None  # why the webhook could not be reached, if it could not

    @property
    def drifted(self) -> list[str]:
        return [r.feature for r in self.features if r.drifted]

    def feature(self, name: str) -> _drift.FeatureDrift:
        for r in self.features:
            if r.feature == name:
                return r
        raise KeyError(name)

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame([dataclasses.asdict(r) for r in self.features])


class Monitor:
    """Monitoring data of one serving endpoint: its inferences and drift against a baseline."""

    def __init__(
        self,
        endpoint: str,
        tables: ManagedTables,
        store: CatalogStore,
        settings: Settings,
        models: Callable[[], Any] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.inference_table = inference_table_name(endpoint)
        self.drift_table = drift_table_name(endpoint)
        self._tables = tables
        self._store = store
        self._settings = settings
        self._models = models  # the registry, opened only to score a baseline

    def __repr__(self) -> str:
        return f"Monitor({self.endpoint!r})"

    # -- inferences -----------------------------------------------------------------------------
    def inferences(
        self,
        window: str | dt.timedelta | None = None,
        limit: int | None = None,
        now: dt.datetime | None = None,
    ) -> pd.DataFrame:
        """Logged requests, newest first (those within ``window`` of now, if given)."""
        end = _utc(now)
        start = end - parse_window(window) if window is not None else None
        frame = self._read(start, end if start is not None else None).to_pandas()
        frame = frame.sort_values("ts", ascending=False, ignore_index=True)
        return frame.head(limit) if limit is not None else frame

    def drift_history(self) -> pd.DataFrame:
        """Every stored drift report row (one per feature per report), newest first."""
        try:
            frame = self._tables.get(self.drift_table).to_pandas()
        except TableNotFoundError:
            return pd.DataFrame(columns=DRIFT_SCHEMA.names)
        return frame.sort_values(["ts", "feature"], ascending=[False, True], ignore_index=True)

    def _read(self, start: dt.datetime | None, end: dt.datetime | None) -> pa.Table:
        try:
            table = self._tables.get(self.inference_table)
        except TableNotFoundError as exc:
            raise NoInferencesError(
                f"endpoint {self.endpoint!r} has no inference table ({self.inference_table}): "
                "it has not logged any request"
            ) from exc
        dataset = table.delta().to_pyarrow_dataset()
        condition = None
        if start is not None:
            condition = pads.field("ts") >= pa.scalar(start, pa.timestamp("us", tz="UTC"))
        if end is not None:
            upper = pads.field("ts") <= pa.scalar(end, pa.timestamp("us", tz="UTC"))
            condition = upper if condition is None else condition & upper
        return dataset.to_table(filter=condition)

    # -- drift ----------------------------------------------------------------------------------
    def drift_report(
        self,
        window: str | dt.timedelta = "1h",
        baseline: str | pd.DataFrame | pa.Table | None = None,
        *,
        psi_threshold: float = 0.2,
        ks_pvalue: float = 0.01,
        webhook: str | None = None,
        html: str | Path | None = None,
        prediction_baseline: str | None = "auto",
        bins: int = _drift.DEFAULT_BINS,
        now: dt.datetime | None = None,
    ) -> DriftReport:
        """Compare the inputs and predictions logged within ``window`` with a baseline.

        ``baseline``: a table name (``name`` or ``name@version``), a DataFrame, or None for the
        training data of the model version that answered most requests in the window, found
        through lineage. ``prediction_baseline``: ``"auto"`` uses the baseline's ``prediction``
        column if it has one, else scores the baseline with that model version; a column name
        uses that column (e.g. the label); None skips prediction drift.
        """
        thresholds = _drift.Thresholds(psi=psi_threshold, ks_pvalue=ks_pvalue)
        if bins < 2:
            raise InvalidArgumentError("bins must be >= 2")
        span = parse_window(window)
        end = _utc(now)
        start = end - span
        rows = self._read(start, end).to_pandas()
        if rows.empty:
            raise EmptyWindowError(
                f"endpoint {self.endpoint!r} logged no requests between {start.isoformat()} "
                f"and {end.isoformat()} (window {window})"
            )
        model_name, model_version = _answering_model(rows)
        recent, prediction_columns = _expand(rows)
        base, described = self._baseline(baseline, model_name, model_version)
        notes: list[str] = []
        base = self._with_prediction_baseline(
            base, recent, prediction_baseline, model_name, model_version, notes
        )
        input_columns = [c for c in recent.columns if c not in prediction_columns]
        common = [c for c in input_columns if c in base.columns]
        unmatched = [c for c in input_columns if c not in base.columns]
        if not common:
            raise InvalidArgumentError(
                f"the baseline ({described}) has none of the request columns {input_columns}"
            )
        compared = common + [c for c in prediction_columns if c in base.columns]
        results, skipped = _drift.compare(
            base, recent, compared, thresholds, frozenset(prediction_columns), bins
        )
        if not results:
            raise InvalidArgumentError(
                f"nothing to compare: the columns {skipped} have no values in the window or "
                f"in the baseline ({described})"
            )
        report = DriftReport(
            report_id=uuid.uuid4().hex,
            endpoint=self.endpoint,
            ts=dt.datetime.now(dt.UTC),
            window=str(window),
            window_start=start,
            window_end=end,
            model_name=model_name,
            model_version=model_version,
            baseline=described,
            n_recent=len(recent),
            n_baseline=len(base),
            features=results,
            skipped=skipped,
            unmatched=unmatched,
            notes=notes,
        )
        path = Path(html) if html is not None else self._default_html_path(report)
        _drift_report.render(report, base, recent, path, thresholds.psi)
        report = dataclasses.replace(
            report, html_path=path, table_version=self._store_report(report)
        )
        return dataclasses.replace(report, alert_error=_alerts.alert(report, thresholds, webhook))

    def _default_html_path(self, report: DriftReport) -> Path:
        stamp = report.ts.strftime("%Y%m%dT%H%M%SZ")
        name = f"drift-{stamp}-{report.report_id[:8]}.html"
        return self._settings.home / "monitoring" / self.endpoint / name

    def _store_report(self, report: DriftReport) -> int:
        common = {
            "report_id": report.report_id,
            "ts": report.ts,
            "endpoint": report.endpoint,
            "window": report.window,
            "window_start": report.window_start,
            "window_end": report.window_end,
            "model_name": report.model_name,
            "model_version": report.model_version,
            "baseline": report.baseline,
        }
        rows = [
            {
                **common,
                "feature": r.feature,
                "kind": r.kind,
                "is_prediction": r.is_prediction,
                "n_baseline": r.n_baseline,
                "n_recent": r.n_recent,
                "psi": r.psi,
                "ks_stat": r.ks_stat,
                "ks_pvalue": r.ks_pvalue,
                "drifted": r.drifted,
            }
            for r in report.features
        ]
        self._store.create_schema(DEFAULT_CATALOG, MONITORING_SCHEMA, self._settings.user)
        return self._tables.write(
            self.drift_table,
            pa.Table.from_pylist(rows, schema=DRIFT_SCHEMA),
            mode="append",
            comment=f"drift reports of endpoint {self.endpoint}",
        )

    # -- baselines ------------------------------------------------------------------------------
    def _baseline(
        self,
        baseline: str | pd.DataFrame | pa.Table | None,
        model_name: str | None,
        model_version: int | None,
    ) -> tuple[pd.DataFrame, str]:
        if isinstance(baseline, pd.DataFrame):
            return _sample(baseline), "DataFrame"
        if isinstance(baseline, pa.Table):
            return _sample(baseline.to_pandas()), "Arrow table"
        if isinstance(baseline, str):
            name, _, at = baseline.partition("@")
            version = _version(at, baseline) if at else None
            return self._read_table(name, version)
        if baseline is not None:
            raise InvalidArgumentError(
                "baseline must be a table name, 'name@version', a pandas DataFrame or None"
            )
        if model_name is None:
            raise BaselineNotFoundError("the inferences name no model: pass baseline=...")
        found = self._training_table(model_name, model_version)
        if found is None:
            raise BaselineNotFoundError(
                f"model {model_name} v{model_version} has no training table in its lineage: "
                "pass baseline='table' or 'table@version'"
            )
        return self._read_table(*found)

    def _training_table(self, model: str, version: int | None) -> tuple[str, int | None] | None:
        """The nearest catalog table upstream of the model version (breadth first)."""
        for edge in self._store.upstream(model, version):
            if edge.source_kind not in ("table", "training_set"):
                continue
            try:
                name = parse_table_name(edge.source_name)
            except InvalidNameError:
                continue  # a training set known only by a non-table name
            if self._store.get_table(name) is not None:
                return str(name), edge.source_version
        return None

    def _read_table(self, name: str, version: int | None) -> tuple[pd.DataFrame, str]:
        try:
            table = self._tables.get(name)
            version = table.version if version is None else version
            frame = table.to_pandas(version=version)
        except (TableNotFoundError, InvalidNameError) as exc:
            raise BaselineNotFoundError(f"baseline table {name} not found: {exc}") from exc
        except RaylakeError as exc:  # e.g. that version was vacuumed away
            raise BaselineNotFoundError(f"baseline {name}@{version} cannot be read: {exc}") from exc
        return _sample(frame), f"{table.name}@{version}"

    def _with_prediction_baseline(
        self,
        base: pd.DataFrame,
        recent: pd.DataFrame,
        how: str | None,
        model_name: str | None,
        model_version: int | None,
        notes: list[str],
    ) -> pd.DataFrame:
        """The baseline with a ``prediction`` column to compare predictions against."""
        if how is None:
            return base.drop(columns=[PREDICTION], errors="ignore")
        if how != "auto":
            if how not in base.columns:
                raise InvalidArgumentError(f"prediction_baseline column {how!r} not in baseline")
            return base.assign(**{PREDICTION: base[how]})
        if PREDICTION in base.columns or PREDICTION not in recent.columns:
            return base
        if self._models is None or model_name is None:
            notes.append("predictions not compared: no model to score the baseline with")
            return base
        columns = [c for c in recent.columns if c in base.columns and c != PREDICTION]
        try:
            model = self._models().load(model_name, model_version)
            scored = model.predict(_floats_as_signed(base[columns], model))
        except Exception as exc:  # any MLflow/model failure: report inputs drift anyway
            log.warning(
                "could not score the baseline with %s v%s: %s", model_name, model_version, exc
            )
            notes.append(f"predictions not compared: scoring the baseline failed: {exc}")
            return base
        values = pd.DataFrame(scored).iloc[:, 0] if getattr(scored, "ndim", 1) > 1 else scored
        notes.append(f"prediction baseline: {model_name} v{model_version} scored on the baseline")
        return base.assign(**{PREDICTION: pd.Series(list(values), index=base.index)})


# -- helpers -------------------------------------------------------------------------------------


def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def _version(text: str, baseline: str) -> int:
    if not text.isdigit():
        raise InvalidArgumentError(f"baseline {baseline!r}: use 'table' or 'table@<version>'")
    return int(text)


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) <= MAX_BASELINE_ROWS:
        return frame.reset_index(drop=True)
    return frame.sample(MAX_BASELINE_ROWS, random_state=0).reset_index(drop=True)


def _answering_model(rows: pd.DataFrame) -> tuple[str | None, int | None]:
    """The model version that answered most requests (the champion under a traffic split)."""
    counts = rows.groupby(["model_name", "model_version"]).size()
    if counts.empty:
        return None, None
    name, version = counts.idxmax()
    return str(name), int(version)


def _json(text: Any) -> Any:
    # A row logged by some other writer may not be JSON: it counts as missing, not as an error.
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _rows_of(text: Any) -> list[dict[str, Any]] | None:
    """Request rows from JSON text: one object (a row) or an array of objects (records)."""
    value = _json(text)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    return None


def _flatten_prediction(value: Any) -> dict[str, Any]:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict):
        return {f"{PREDICTION}.{k}": v for k, v in value.items() if not isinstance(v, dict | list)}
    if isinstance(value, list):
        return {f"{PREDICTION}[{i}]": v for i, v in enumerate(value)}
    return {PREDICTION: value}


def _floats_as_signed(frame: pd.DataFrame, model: Any) -> pd.DataFrame:
    """Integer columns the model's signature declares double/float, as floats. A table keeps
    counts as integers while the model was trained on them as floats, and MLflow refuses the
    int64 -> double cast (unsafe for huge values), which would skip prediction drift."""
    from mlflow.types import DataType

    schema = model.metadata.get_input_schema()
    if schema is None or not schema.has_input_names():
        return frame
    wanted = {spec.name: spec.type for spec in schema.inputs}
    floats = [
        c
        for c in frame.columns
        if wanted.get(c) in (DataType.double, DataType.float)
        and pd.api.types.is_integer_dtype(frame[c].dtype)
    ]
    return frame.astype({c: "float64" for c in floats}) if floats else frame


def _expand(rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per scored input row: its columns (overlaid by the features looked up for it)
    and its prediction columns. A logged request may hold one row (a JSON object) or several
    (an array of records, with an array of as many predictions)."""
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for given, looked_up, answer in zip(
        rows["inputs"], rows["features"], rows["prediction"], strict=True
    ):
        request = _rows_of(given) or [{}]
        features = _rows_of(looked_up)
        if features is None or len(features) != len(request):
            features = [{}] * len(request)
        predicted = _json(answer)
        if isinstance(given, str) and given.lstrip().startswith("["):  # records: one per row
            ok = isinstance(predicted, list) and len(predicted) == len(request)
            per_row = predicted if ok else [None] * len(request)
        else:
            per_row = [predicted]
        for row, feats, value in zip(request, features, per_row, strict=True):
            inputs.append({**row, **feats})
            outputs.append(_flatten_prediction(value))
    frame = pd.DataFrame.from_records(inputs)
    predictions = pd.DataFrame.from_records(outputs)
    frame = frame.drop(columns=[c for c in predictions.columns if c in frame.columns])
    return pd.concat([frame, predictions], axis=1), list(predictions.columns)
