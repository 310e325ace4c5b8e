"""Endpoint specs and the scoring protocol without Ray: parsing, named errors, batching slices."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mlflow.models import infer_signature
from mlflow.pyfunc import scoring_server
from mlflow.types import ColSpec, Schema

from raylake.errors import InvalidArgumentError
from raylake.serving import _protocol as protocol
from raylake.serving._records import records_json, rows_json
from raylake.serving._spec import (
    EndpointSpec,
    ModelRef,
    Variant,
    check_endpoint_name,
    check_scaling,
    traffic_weights,
)

FRAME = pd.DataFrame({"x1": [1.0, 2.0], "n": [1, 2]})
SCHEMA = infer_signature(FRAME, np.array([0, 1])).inputs


@pytest.mark.parametrize(
    ("ref", "name", "which"),
    [
        ("models:/main.models.churn@champion", "main.models.churn", "champion"),
        ("models:/churn/3", "churn", 3),
        ("churn@challenger", "churn", "challenger"),
        ("models:/churn", "churn", None),
    ],
)
def test_model_refs(ref: str, name: str, which: str | int | None) -> None:
    assert ModelRef.parse(ref) == ModelRef(name, which)


@pytest.mark.parametrize("ref", ["", "models:/churn@", "models:/churn/x", "@champion", None])
def test_bad_model_refs(ref: str) -> None:
    with pytest.raises(InvalidArgumentError):
        ModelRef.parse(ref)


def test_endpoint_names() -> None:
    assert check_endpoint_name("churn_v2") == "churn_v2"
    for bad in ("Churn", "2churn", "a-b", "", "x" * 64):
        with pytest.raises(InvalidArgumentError, match="endpoint name"):
            check_endpoint_name(bad)


def test_traffic_weights() -> None:
    assert traffic_weights(None, None) == {"champion": 100.0}
    split = traffic_weights("models:/m@challenger", {"champion": 90, "challenger": 10})
    assert split == {"champion": 90.0, "challenger": 10.0}
    with pytest.raises(InvalidArgumentError, match="needs a traffic split"):
        traffic_weights("models:/m@c", None)
    with pytest.raises(InvalidArgumentError, match="sum to 100"):
        traffic_weights("models:/m@c", {"champion": 90, "challenger": 20})
    with pytest.raises(InvalidArgumentError, match="traffic keys"):
        traffic_weights("models:/m@c", {"champion": 90, "canary": 10})
    with pytest.raises(InvalidArgumentError, match="challenger= is not set"):
        traffic_weights(None, {"champion": 90, "challenger": 10})


def test_scaling_checks() -> None:
    check_scaling(2, None, 16)
    check_scaling(1, {"min_replicas": 1, "max_replicas": 4}, None)
    for replicas, autoscaling, batch in ((0, None, None), (1, "auto", None), (1, None, 0)):
        with pytest.raises(InvalidArgumentError):
            check_scaling(replicas, autoscaling, batch)


def test_changing_only_models_or_scale_keeps_the_code_version() -> None:
    v1 = Variant("champion", "models:/m@champion", "main.models.m", 1, 100.0)
    spec = EndpointSpec("churn", (v1,), deploy_id="abc")
    v2 = Variant("champion", "models:/m@champion", "main.models.m", 2, 100.0)
    assert spec.with_variants([v2]).code_version() == spec.code_version()
    scaled = EndpointSpec("churn", (v1,), num_replicas=3, deploy_id="abc")
    assert scaled.code_version() == spec.code_version()
    batched = EndpointSpec("churn", (v1,), max_batch_size=8, deploy_id="abc")
    assert batched.code_version() != spec.code_version()
    assert EndpointSpec.from_config(spec.to_config()) == spec


def test_every_mlflow_format_parses_and_validates() -> None:
    bodies = [
        b'{"dataframe_split": {"columns": ["x1", "n"], "data": [[1.0, 1], [2.0, 2]]}}',
        b'{"dataframe_records": [{"x1": 1.0, "n": 1}, {"x1": 2.0, "n": 2}]}',
        b'{"instances": [{"x1": 1.0, "n": 1}, {"x1": 2.0, "n": 2}]}',
        b'{"inputs": {"x1": [1.0, 2.0], "n": [1, 2]}}',
    ]
    for body in bodies:
        frame = protocol.validate(protocol.parse(body, "application/json", SCHEMA), SCHEMA)
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), FRAME, check_dtype=False)
    csv = protocol.parse(b"x1,n\n1.0,1\n2.0,2\n", "text/csv; charset=utf-8", SCHEMA)
    pd.testing.assert_frame_equal(protocol.validate(csv, SCHEMA), FRAME)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "named"),
    [
        (b'{"dataframe_records": [{"x1": 1.0}]}', "application/json", 400, "['n']"),
        (b'{"dataframe_records": [{"x1": "a", "n": 1}]}', "application/json", 400, "x1"),
        (b"{oops", "application/json", 400, "JSON"),
        (b"[1]", "application/json", 400, "list"),
        (b"", "application/json", 400, "empty"),
        (b"\xff", "application/json", 400, "UTF-8"),
        (b"x1,n\n1", "application/json; charset=latin-1", 415, "UTF-8"),
        (b"x1,n\n1,2", "application/xml", 415, "not supported"),
        (b'{"dataframe_records": []}', "application/json", 400, "missing"),
    ],
)
def test_bad_requests_are_named_4xx(
    body: bytes, content_type: str, status: int, named: str
) -> None:
    with pytest.raises(protocol.BadRequest) as info:
        protocol.validate(protocol.parse(body, content_type, SCHEMA), SCHEMA)
    assert info.value.status == status
    assert named in str(info.value)
    assert set(info.value.body()) == {"error_code", "message"}


def test_batch_predictions_split_back_per_request() -> None:
    assert [p.tolist() for p in protocol.split(np.arange(6), [1, 3, 2])] == [[0], [1, 2, 3], [4, 5]]
    frame = pd.DataFrame({"p": [7, 8, 9], "q": [0.1, 0.2, 0.3]})
    parts = protocol.split(frame, [2, 1])
    for part in parts:  # each slice answers exactly as MLflow's server would answer it alone
        out = io.StringIO()
        scoring_server.predictions_to_json(part, out)
        assert json.loads(protocol.encode(part)) == json.loads(out.getvalue())
    assert json.loads(protocol.encode(parts[1])) == {"predictions": [{"p": 9, "q": 0.3}]}


# -- the fast path reads exactly what MLflow's path reads ------------------------------------
MIXED = pd.DataFrame(
    {
        "d": [1.5],
        "f": np.array([1.5], dtype="float32"),
        "l": [3],
        "i": np.array([3], dtype="int32"),
        "b": [True],
        "s": ["x"],
    }
)
MIXED_SCHEMA = infer_signature(MIXED).inputs
SCALARS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
    st.lists(st.integers(), max_size=2),
)


def _slow(body: bytes, schema: object) -> pd.DataFrame | None:
    try:
        return protocol.validate(protocol.parse(body, "application/json", schema), schema)
    except protocol.BadRequest:
        return None


def test_simple_bodies_take_the_fast_path_and_match_mlflow() -> None:
    rows = [{"x1": 1.0, "n": 1}, {"x1": 2, "n": 2}]
    for body in (
        {"dataframe_records": rows},
        {"dataframe_split": {"columns": ["n", "x1"], "data": [[1, 1.0], [2, 2]]}},
    ):
        raw = json.dumps(body).encode()
        fast = protocol.parse_simple(raw, "application/json; charset=utf-8", SCHEMA)
        assert fast is not None, body
        pd.testing.assert_frame_equal(fast, _slow(raw, SCHEMA))
    record = {"d": 1.5, "f": 1.5, "l": 3, "i": 3, "b": True, "s": "x"}
    raw = json.dumps({"dataframe_records": [record]}).encode()
    pd.testing.assert_frame_equal(protocol.parse_simple(raw, None, MIXED_SCHEMA), MIXED)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"dataframe_records": [{"x1": 1.0, "n": 1.5}]}', None),  # float for a long
        (b'{"dataframe_records": [{"x1": true, "n": 1}]}', None),  # bool for a double
        (b'{"dataframe_records": [{"x1": 1.0}]}', None),  # missing column
        (b'{"dataframe_records": [{"x1": 1.0, "n": 1, "z": 2}]}', None),  # extra column
        (b'{"dataframe_records": [{"x1": 1.0, "n": 1}], "params": {}}', None),
        (b'{"instances": [{"x1": 1.0, "n": 1}]}', None),
        (b'{"dataframe_records": []}', None),
        ('{"dataframe_records": [{"x1": 1.0, "n": 1}]}'.encode("utf-16"), None),
        (b'{"dataframe_records": [{"x1": 1.0, "n": 1}]}', "application/json; charset=latin-1"),
        (b"x1,n\n1.0,1", "text/csv"),
    ],
)
def test_anything_else_takes_mlflows_path(body: bytes, content_type: str | None) -> None:
    assert protocol.parse_simple(body, content_type, SCHEMA) is None


GOOD = {
    "d": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**60), 2**60),
    "f": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "l": st.integers(-(2**63), 2**63 - 1),
    "i": st.integers(-(2**31), 2**31 - 1),
    "b": st.booleans(),
    "s": st.text(max_size=3),
}


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    return st.integers(0, 9).flatmap(lambda k: bad if k == 0 else good)


# Mostly well-typed rows (so the fast path is taken), sometimes a wrong value or an extra key.
ROW = _mostly(
    st.fixed_dictionaries({c: _mostly(GOOD[c], SCALARS) for c in GOOD}),
    st.fixed_dictionaries({c: SCALARS for c in GOOD}, optional={"extra": SCALARS}),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(ROW, min_size=0, max_size=4), split=st.booleans())
def test_fast_path_never_disagrees_with_mlflow(rows: list[dict], split: bool) -> None:
    if split:
        columns = sorted({k for r in rows for k in r})
        data = [[r.get(c) for c in columns] for r in rows]
        body = {"dataframe_split": {"columns": columns, "data": data}}
    else:
        body = {"dataframe_records": rows}
    raw = json.dumps(body).encode()
    fast = protocol.parse_simple(raw, "application/json", MIXED_SCHEMA)
    if fast is not None:  # whatever the fast path accepts, MLflow reads to the same frame
        pd.testing.assert_frame_equal(fast, _slow(raw, MIXED_SCHEMA))


ONE_DTYPE = {  # a two-column signature per dtype: the one-array (``Block``) path
    kind: infer_signature(pd.DataFrame({"p": MIXED[kind], "q": MIXED[kind]})).inputs
    for kind in ("d", "f", "l", "i", "b")
}


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(ONE_DTYPE)),
    data=st.data(),
    split=st.booleans(),
)
def test_fast_path_of_one_dtype_never_disagrees_with_mlflow(
    kind: str, data: st.DataObject, split: bool
) -> None:
    value = _mostly(GOOD[kind], SCALARS)
    rows = data.draw(st.lists(st.fixed_dictionaries({"p": value, "q": value}), max_size=4))
    if split:
        table = [[r["p"], r["q"]] for r in rows]
        body = {"dataframe_split": {"columns": ["p", "q"], "data": table}}
    else:
        body = {"dataframe_records": rows}
    raw = json.dumps(body).encode()
    fast = protocol.parse_simple(raw, "application/json", ONE_DTYPE[kind])
    if fast is not None:
        pd.testing.assert_frame_equal(fast, _slow(raw, ONE_DTYPE[kind]))


def test_rows_of_one_dtype_are_read_as_one_block() -> None:
    raw = json.dumps({"dataframe_records": [{"p": 1.5, "q": 2}, {"p": 3, "q": 4.5}]}).encode()
    rows, given = protocol.read_simple(raw, "application/json", ONE_DTYPE["d"])
    assert isinstance(rows, protocol.Block) and given == {"p": [1.5, 3], "q": [2, 4.5]}
    pd.testing.assert_frame_equal(rows.frame(), _slow(raw, ONE_DTYPE["d"]))


def test_records_json_reads_back_as_the_rows() -> None:
    plain = {"a": [1, 2], "b": ["x", None], "c": [0.5, 1.5]}
    assert json.loads(records_json(plain)) == [
        {"a": 1, "b": "x", "c": 0.5},
        {"a": 2, "b": None, "c": 1.5},
    ]
    # NaN and timestamps are not JSON: written as pandas writes a frame (null, ISO text).
    odd = {"t": [pd.Timestamp("2026-01-01 10:00")], "x": [float("nan")]}
    assert json.loads(records_json(odd)) == json.loads(rows_json(pd.DataFrame(odd)))
    assert json.loads(records_json(odd))[0]["x"] is None


def test_scorer_skips_only_pyfuncs_second_enforcement(tmp_path) -> None:
    import mlflow
    from sklearn.linear_model import LogisticRegression

    from raylake.serving._app import _scorer

    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    mlflow.sklearn.save_model(LogisticRegression().fit(x, [0, 0, 1, 1]), tmp_path / "m",
                              input_example=x[:2])  # fmt: skip
    model = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    score = _scorer(model)
    assert score != model.predict and score(x).tolist() == model.predict(x).tolist()

    class Plain:  # not an MLflow pyfunc: its own predict, untouched
        def predict(self, frame: pd.DataFrame) -> list[int]:
            return [1] * len(frame)

    plain = Plain()
    assert _scorer(plain) == plain.predict


def test_a_batch_of_blocks_is_the_frame_concatenating_their_frames_gives() -> None:
    schema = Schema([ColSpec("double", "a"), ColSpec("double", "b")])
    parts = [
        protocol.rows_from_columns({"a": [1.0, 2.0], "b": [3.0, 4.0]}, schema),
        protocol.rows_from_columns({"a": [5.5], "b": [-1.0]}, schema),
    ]
    assert all(isinstance(p, protocol.Block) for p in parts)
    expected = pd.concat([p.frame() for p in parts], ignore_index=True)
    pd.testing.assert_frame_equal(protocol.batch_frame(parts), expected)
    # Mixed kinds (a block beside a frame of other dtypes) still concatenate, in order.
    mixed = [parts[0], pd.DataFrame({"a": [7], "b": [8]})]
    pd.testing.assert_frame_equal(
        protocol.batch_frame(mixed),
        pd.concat([parts[0].frame(), mixed[1]], ignore_index=True),
    )
    assert protocol.batch_frame(parts[:1]).equals(parts[0].frame())
