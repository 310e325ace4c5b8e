"""MLflow's scoring protocol: request parsing, signature checks and the answer's JSON.

Parsing is MLflow's own (``mlflow.pyfunc.scoring_server``), so every body that
``mlflow models serve`` accepts is read the same way here; what differs is that every input
problem becomes a 4xx JSON error naming it, never a 500.

``parse_simple`` is a fast path for the common body (``dataframe_records`` or
``dataframe_split`` rows whose columns and JSON value types match a flat signature exactly): it
builds the frame MLflow would build straight from the JSON, about ten times cheaper than MLflow's
parse and enforcement; anything else returns None and takes MLflow's path, errors included.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from io import StringIO
from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models.utils import _enforce_schema
from mlflow.pyfunc import scoring_server as mlflow_scoring
from mlflow.types import Schema
from mlflow.utils.proto_json_utils import NumpyEncoder, _get_jsonable_obj

from raylake.errors import RaylakeError

CSV = mlflow_scoring.CONTENT_TYPE_CSV
JSON = mlflow_scoring.CONTENT_TYPE_JSON
FORMATS = sorted(mlflow_scoring.SUPPORTED_FORMATS)
MAX_ROWS = 10_000  # one request; larger scoring jobs belong in batch inference, not HTTP


class BadRequest(RaylakeError):
    """A request the endpoint refuses; ``status`` is the HTTP code (always 4xx)."""

    def __init__(self, message: str, status: int = 400, error_code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code

    def body(self) -> dict[str, str]:
        # The shape of MLflow's scoring-server errors, so its clients read ours unchanged.
        return {"error_code": self.error_code, "message": str(self)}


def _first_line(exc: BaseException, limit: int = 500) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = " ".join(text.split())  # MLflow's messages carry the whole input and newlines
    return text[:limit]


def parse(body: bytes, content_type: str | None, schema: Schema | None) -> Any:
    """The request body as MLflow's server would read it (DataFrame, dict of arrays, ...)."""
    mime, _, params = (content_type or JSON).partition(";")
    mime = mime.strip().lower()
    charset = dict(p.strip().partition("=")[::2] for p in params.split(";") if p.strip()).get(
        "charset", "utf-8"
    )
    if charset.lower() != "utf-8":
        raise BadRequest("only UTF-8 bodies are accepted", 415, "UNSUPPORTED_MEDIA_TYPE")
    if not body:
        raise BadRequest("the request body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8: {exc}") from exc
    try:
        if mime == CSV:
            return mlflow_scoring.parse_csv_input(StringIO(text), schema)
        if mime == JSON:
            data, _params = mlflow_scoring._split_data_and_params(text)
            return mlflow_scoring.infer_and_parse_data(data, schema)
    except MlflowException as exc:
        raise BadRequest(_first_line(exc)) from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise BadRequest(f"could not read the {mime} body: {_first_line(exc)}") from exc
    raise BadRequest(
        f"content type {mime!r} is not supported; use {JSON} or {CSV}",
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


# Signature type -> (numpy dtype, the JSON value types that type takes without any conversion).
_SIMPLE_TYPES: dict[str, tuple[np.dtype, tuple[type, ...]]] = {
    "double": (np.dtype("float64"), (float, int)),
    "float": (np.dtype("float32"), (float, int)),
    "long": (np.dtype("int64"), (int,)),
    "integer": (np.dtype("int32"), (int,)),
    "boolean": (np.dtype("bool"), (bool,)),
    "string": (np.dtype("object"), (str,)),
}


_SimpleColumns = list[tuple[str, np.dtype, tuple[type, ...]]]
# Per schema object (a loaded model's, reused for every request): id -> (schema, answer).
_SIMPLE_CACHE: dict[int, tuple[Schema, _SimpleColumns | None]] = {}


def _simple_columns(schema: Schema | None) -> _SimpleColumns | None:
    """A flat signature of required scalar columns as (name, dtype, JSON types), else None."""
    if schema is None:
        return None
    cached = _SIMPLE_CACHE.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    if len(_SIMPLE_CACHE) > 64:  # a few models per replica: only stale entries go
        _SIMPLE_CACHE.clear()
    answer = _simple_columns_of(schema)
    _SIMPLE_CACHE[id(schema)] = (schema, answer)
    return answer


def _simple_columns_of(schema: Schema) -> _SimpleColumns | None:
    if schema.is_tensor_spec() or not schema.has_input_names():
        return None
    out = []
    for spec in schema.inputs:
        known = _SIMPLE_TYPES.get(getattr(spec.type, "name", ""))
        if known is None or not spec.required:
            return None
        out.append((spec.name, *known))
    return out


def _fits(values: list[Any], dtype: np.dtype, accepted: tuple[type, ...]) -> bool:
    """Whether MLflow would take these JSON values for a column of ``dtype`` unchanged."""
    # ``type(v) in`` rather than isinstance: bool is an int, and MLflow treats it differently.
    if not all(type(v) in accepted for v in values):
        return False
    if dtype.kind == "i":
        info = np.iinfo(dtype)
        return all(info.min <= v <= info.max for v in values)
    return True


def read_columns(body: bytes, content_type: str | None) -> dict[str, list[Any]] | None:
    """Column name -> values of a plain rows body: ``dataframe_records`` whose rows all have
    the same keys, or ``dataframe_split`` with string column names and nothing else; None for
    any other body (MLflow's path reads, or refuses, those)."""
    mime, _, params = (content_type or JSON).partition(";")
    if mime.strip().lower() != JSON or params.strip() not in ("", "charset=utf-8"):
        return None
    try:
        data = json.loads(body.decode("utf-8"))  # not json.loads(bytes): that guesses UTF-16/32
    except ValueError:  # UnicodeDecodeError included
        return None
    if not isinstance(data, dict) or len(data) != 1:
        return None
    if "dataframe_records" in data:
        rows = data["dataframe_records"]
        if not isinstance(rows, list) or not rows or len(rows) > MAX_ROWS:
            return None
        if not isinstance(rows[0], dict):
            return None
        keys = rows[0].keys()
        if not all(isinstance(r, dict) and r.keys() == keys for r in rows):
            return None
        return {name: [r[name] for r in rows] for name in keys}
    if "dataframe_split" in data:
        split_ = data["dataframe_split"]
        if not isinstance(split_, dict) or split_.keys() != {"columns", "data"}:
            return None
        given, rows = split_["columns"], split_["data"]
        if not isinstance(given, list) or not all(isinstance(c, str) for c in given):
            return None
        if len(given) != len(set(given)) or not isinstance(rows, list) or not rows:
            return None
        if len(rows) > MAX_ROWS:
            return None
        if not all(isinstance(r, list) and len(r) == len(given) for r in rows):
            return None
        return {name: [r[i] for r in rows] for i, name in enumerate(given)}
    return None


@dataclass(frozen=True)
class Block:
    """Rows whose columns share one dtype, as a 2-D array: the blocks of concurrent requests
    stack into one model input far cheaper than a DataFrame each would concatenate."""

    values: np.ndarray
    columns: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.values)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.values, columns=list(self.columns))


Rows = Block | pd.DataFrame  # one request's checked rows


def rows_from_columns(
    values: dict[str, list[Any]], schema: Schema | None, *, extra: bool = False
) -> Rows | None:
    """What MLflow's enforcement would make of these columns, built directly: a ``Block`` when
    the signature's columns share one dtype, else a frame; None unless every signature column
    is there with JSON values of exactly its type. ``extra``: other columns may be present
    (they are left out, as MLflow leaves them out)."""
    columns = _simple_columns(schema)
    if columns is None:
        return None
    names = [name for name, _, _ in columns]
    if not (values.keys() >= set(names) if extra else values.keys() == set(names)):
        return None
    cells = [values[name] for name in names]
    if not all(len(col) == len(cells[0]) for col in cells):
        return None
    dtypes = {dtype for _, dtype, _ in columns}
    if len(dtypes) == 1 and columns[0][1].kind != "O":  # one dtype: one array, built at once
        _, dtype, accepted = columns[0]
        if not _fits([v for col in cells for v in col], dtype, accepted):
            return None
        return Block(np.array(cells, dtype=dtype).T, tuple(names))
    pairs = list(zip(cells, columns, strict=True))
    if not all(_fits(col, dtype, accepted) for col, (_, dtype, accepted) in pairs):
        return None
    return pd.DataFrame({name: np.array(col, dtype=dtype) for col, (name, dtype, _) in pairs})


def batch_frame(parts: Sequence[Rows]) -> pd.DataFrame:
    """The rows of several requests as one frame, in order (one model call scores them)."""
    first = parts[0]
    if len(parts) == 1:
        return first.frame() if isinstance(first, Block) else first
    if all(
        isinstance(p, Block) and p.columns == first.columns and p.values.dtype == first.values.dtype
        for p in parts
    ):
        return pd.DataFrame(np.vstack([p.values for p in parts]), columns=list(first.columns))
    frames = [p.frame() if isinstance(p, Block) else p for p in parts]
    return pd.concat(frames, ignore_index=True)


def read_simple(
    body: bytes, content_type: str | None, schema: Schema | None
) -> tuple[Rows, dict[str, list[Any]]] | None:
    """The validated rows of a plain rows body and its columns as sent, or None when MLflow's
    path must read it."""
    if _simple_columns(schema) is None:
        return None
    values = read_columns(body, content_type)
    rows = None if values is None else rows_from_columns(values, schema)
    return None if rows is None else (rows, values)


def parse_simple(body: bytes, content_type: str | None, schema: Schema | None) -> Any:
    """The validated frame of a plain rows body, or None when MLflow's path must read it."""
    found = read_simple(body, content_type, schema)
    return None if found is None else batch_frame([found[0]])


def to_frame(data: Any) -> pd.DataFrame:
    """Parsed input as a DataFrame (``inputs``/``instances`` may come as a dict of arrays)."""
    try:
        if isinstance(data, pd.DataFrame):
            frame = data
        elif isinstance(data, dict):
            frame = pd.DataFrame({k: np.atleast_1d(v).tolist() for k, v in data.items()})
        else:
            frame = pd.DataFrame(data)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"the input is not a table of rows: {_first_line(exc)}") from exc
    if not isinstance(frame.columns, pd.RangeIndex):
        frame.columns = [str(c) for c in frame.columns]
    return frame


def validate(data: Any, schema: Schema | None) -> pd.DataFrame:
    """Enforce the model signature (MLflow's own checks): columns present, types convertible."""
    frame = to_frame(data) if schema is None else data
    if schema is not None:
        try:
            frame = _enforce_schema(data, schema)
        except MlflowException as exc:
            raise BadRequest(
                f"input does not match the model signature: {_first_line(exc)}"
            ) from exc
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise BadRequest(
                f"input does not match the model signature: {_first_line(exc)}"
            ) from exc
        frame = to_frame(frame)
    if len(frame) == 0:
        raise BadRequest("the input has no rows")
    if len(frame) > MAX_ROWS:
        raise BadRequest(f"at most {MAX_ROWS} rows per request, got {len(frame)}", 413)
    return frame


def split(predictions: Any, sizes: Sequence[int]) -> list[Any]:
    """Cut the predictions of a concatenated batch back into one slice per request."""
    out, start = [], 0
    for size in sizes:
        end = start + size
        if isinstance(predictions, pd.DataFrame | pd.Series):
            out.append(predictions.iloc[start:end])
        else:
            out.append(predictions[start:end])
        start = end
    return out


def encode(predictions: Any) -> bytes:
    """``{"predictions": [...]}`` exactly as MLflow's scoring server writes it."""
    return encode_both(predictions)[0]


def encode_both(predictions: Any) -> tuple[bytes, str]:
    """The answer's body and the predictions alone as JSON (for the inference table)."""
    jsonable = _get_jsonable_obj(predictions, pandas_orient="records")
    alone = json.dumps(jsonable, cls=NumpyEncoder)
    return b'{"predictions": ' + alone.encode() + b"}", alone
