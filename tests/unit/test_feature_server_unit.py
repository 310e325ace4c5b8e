"""OnlineReader and the retrieval API against Feast itself, on a plain Feast repo (no Ray).

The reference is ``FeatureStore.get_online_features`` turned into JSON the way Feast's feature
server does it (``convert_response_to_dict``). Feast orders the features of one view by a set
(arbitrary per process), so answers are compared column by column, keyed by feature name.
"""

from __future__ import annotations

import random
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from feast import FeatureStore
from feast.feature_server_utils import convert_response_to_dict

from raylake.errors import OnlineRequestError, TooManyEntitiesError, UnknownFeatureError
from raylake.features._online_reader import OnlineReader
from raylake.features._server import build

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx is what we have
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
import online_repo  # noqa: E402

ALL = [*online_repo.NINE, "driver_customer:orders"]
URL = "/get-online-features"


def columns(answer: dict[str, Any]) -> dict[str, Any]:
    names = answer["metadata"]["feature_names"]
    assert len(names) == len(answer["results"]) == len(set(names))
    return dict(zip(names, answer["results"], strict=True))


def feast_answer(store: FeatureStore, features, entities, full=False) -> dict[str, Any]:
    target = store.get_feature_service(features) if isinstance(features, str) else features
    response = store.get_online_features(
        features=target, entity_rows=entities, full_feature_names=full
    )
    return convert_response_to_dict(response.proto)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return online_repo.write_repo(tmp_path_factory.mktemp("online") / "repo")


@pytest.fixture(scope="module")
def store(repo: Path) -> FeatureStore:
    return FeatureStore(repo_path=str(repo))


@pytest.fixture(scope="module")
def reader(repo: Path) -> OnlineReader:
    return OnlineReader(repo, max_entities=50)


@pytest.fixture(scope="module")
def client(reader: OnlineReader) -> TestClient:
    return TestClient(build(reader))


def random_requests(seed: int, count: int):
    rng = random.Random(seed)
    hi = 1000 + online_repo.N_DRIVERS + 10  # ids past the data: missing entities
    for _ in range(count):
        rows = rng.randint(1, 8)
        features = rng.sample(ALL, rng.randint(1, len(ALL)))
        entities: dict[str, list] = {"driver_id": [rng.randint(990, hi) for _ in range(rows)]}
        if "driver_customer:orders" in features or rng.random() < 0.2:
            entities["customer_id"] = [f"c{rng.randint(0, 25)}" for _ in range(rows)]
        yield features, entities, rng.random() < 0.3


def test_reader_matches_feast_on_random_requests(store, reader) -> None:
    for features, entities, full in random_requests(seed=1, count=100):
        expected = feast_answer(store, features, entities, full)
        got = reader.read(features, entities, full)
        assert list(got) == list(expected)
        assert columns(got) == columns(expected), (features, entities, full)


def test_feature_order_follows_the_request(reader) -> None:
    got = reader.read(["driver_stats:trips", "driver_stats:conv_rate"], {"driver_id": [1001]})
    assert got["metadata"]["feature_names"] == ["driver_id", "trips", "conv_rate"]


def test_feature_service_and_full_names(store, reader) -> None:
    entities = {"driver_id": [1000, 1001, 5, 1000]}
    for full in (False, True):
        expected = feast_answer(store, "driver_all", entities, full)
        assert columns(reader.read("driver_all", entities, full)) == columns(expected)


def test_composite_keys_with_present_pairs(store, reader) -> None:
    frame = pd.read_parquet(Path(store.repo_path) / "data" / "driver_customer.parquet")
    pairs = frame.drop_duplicates(["driver_id", "customer_id"]).head(6)
    entities = {
        "driver_id": [*map(int, pairs.driver_id), 1000],
        "customer_id": [*pairs.customer_id, "nobody"],
    }
    got = reader.read(["driver_customer:orders"], entities)
    assert got["results"][2]["statuses"] == ["PRESENT"] * 6 + ["NOT_FOUND"]
    assert columns(got) == columns(feast_answer(store, ["driver_customer:orders"], entities))


def test_new_online_values_are_read_at_once(store, reader) -> None:
    """No cache: a write to the online store shows in the very next read."""
    before = reader.read(["driver_stats:trips"], {"driver_id": [1002]})
    rows = pd.DataFrame(
        {
            "driver_id": [1002],
            "event_ts": [datetime(2026, 3, 2, tzinfo=UTC)],
            "conv_rate": [0.5],
            "acc_rate": [0.25],
            "trips": [123456],
        }
    )
    store.write_to_online_store("driver_stats", rows)
    after = reader.read(["driver_stats:trips"], {"driver_id": [1002]})
    assert before["results"][1]["values"] != [123456]
    assert after["results"][1]["values"] == [123456]
    assert after["results"][1]["event_timestamps"] == ["2026-03-02T00:00:00Z"]
    assert columns(after) == columns(
        feast_answer(store, ["driver_stats:trips"], {"driver_id": [1002]})
    )


@pytest.mark.parametrize(
    ("features", "entities", "error"),
    [
        (["driver_stats:nope"], {"driver_id": [1]}, UnknownFeatureError),
        (["no_view:conv_rate"], {"driver_id": [1]}, UnknownFeatureError),
        ("no_service", {"driver_id": [1]}, UnknownFeatureError),
        (["conv_rate"], {"driver_id": [1]}, OnlineRequestError),
        ([], {"driver_id": [1]}, OnlineRequestError),
        (["driver_stats:trips"], {"driver": [1], "rider_id": [2]}, OnlineRequestError),
        (["driver_stats:trips"], {"driver_id": ["1"]}, OnlineRequestError),
        (["driver_stats:trips"], {"driver_id": [True]}, OnlineRequestError),
        (["driver_stats:trips"], {"driver_id": [1.5]}, OnlineRequestError),
        (["driver_stats:trips"], {"driver_id": [2**70]}, OnlineRequestError),
        (["driver_stats:trips"], {"driver_id": [None]}, OnlineRequestError),
        (["driver_stats:trips"], {"driver_id": []}, OnlineRequestError),
        (["driver_stats:trips"], {"driver_id": 5}, OnlineRequestError),
        (["driver_customer:orders"], {"driver_id": [1]}, OnlineRequestError),
        (
            ["driver_customer:orders"],
            {"driver_id": [1, 2], "customer_id": ["a"]},
            OnlineRequestError,
        ),
        (["driver_stats:trips"], {"driver_id": list(range(51))}, TooManyEntitiesError),
    ],
)
def test_reader_names_bad_requests(reader, features, entities, error) -> None:
    with pytest.raises(error):
        reader.read(features, entities)


def test_http_answers_like_feast(client, store) -> None:
    for features, entities, full in random_requests(seed=2, count=20):
        body = {"features": features, "entities": entities, "full_feature_names": full}
        response = client.post(URL, json=body)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert columns(response.json()) == columns(feast_answer(store, features, entities, full))
    response = client.post(
        URL, json={"feature_service": "driver_all", "entities": {"driver_id": [1003]}}
    )
    assert columns(response.json()) == columns(
        feast_answer(store, "driver_all", {"driver_id": [1003]})
    )


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b'{"features": ["driver_stats:trips"], "entities": {"driver_id": [1]', 400, "JSON"),
        (b"[1, 2]", 400, "object"),
        (b"", 400, "JSON"),
        ({"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}}, 404, "nope"),
        ({"features": ["ghost:trips"], "entities": {"driver_id": [1]}}, 404, "ghost"),
        ({"feature_service": "ghost", "entities": {"driver_id": [1]}}, 404, "ghost"),
        ({"features": ["driver_stats:trips"], "entities": {"rider_id": [1]}}, 422, "rider_id"),
        ({"features": ["driver_stats:trips"], "entities": {"driver_id": ["x"]}}, 422, "INT64"),
        ({"features": ["driver_stats:trips"], "entities": {"driver_id": [[1]]}}, 422, "driver_id"),
        ({"features": ["driver_stats:trips"], "entities": {"driver_id": [{}]}}, 422, "driver_id"),
        ({"features": ["driver_stats:trips"], "entities": {"driver_id": 3}}, 422, "list"),
        ({"features": ["driver_stats:trips"], "entities": {}}, 422, "entities"),
        ({"features": ["driver_stats:trips"]}, 422, "entities"),
        ({"features": "driver_stats:trips", "entities": {"driver_id": [1]}}, 422, "features"),
        ({"features": [1, 2], "entities": {"driver_id": [1]}}, 422, "view:feature"),
        ({"entities": {"driver_id": [1]}}, 422, "features"),
        (
            {
                "features": ["driver_stats:trips"],
                "feature_service": "driver_all",
                "entities": {"driver_id": [1]},
            },
            422,
            "not both",
        ),
        (
            {
                "features": ["driver_stats:trips"],
                "entities": {"driver_id": [1]},
                "full_feature_names": "yes",
            },
            422,
            "full_feature_names",
        ),
        (
            {"features": ["driver_stats:trips"], "entities": {"driver_id": [1]}, "extra": 1},
            422,
            "extra",
        ),
        (
            {"features": ["driver_stats:trips"], "entities": {"driver_id": list(range(51))}},
            413,
            "51",
        ),
    ],
)
def test_http_bad_requests_get_4xx_json(client, body, status, needle) -> None:
    if isinstance(body, bytes):
        response = client.post(URL, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(URL, json=body)
    assert response.status_code == status, response.text
    error = response.json()
    assert set(error) == {"error", "detail"}
    assert needle in error["detail"]


def test_http_other_routes(client) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get(URL).status_code == 405
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and "error" in missing.json()
    spec = client.get("/openapi.json").json()
    request_schema = spec["paths"][URL]["post"]["requestBody"]["content"]["application/json"]
    assert "entities" in request_schema["schema"]["properties"]
    assert client.get("/docs").status_code == 200
    client.post(URL, json={"features": ["driver_stats:nope"], "entities": {"driver_id": [1]}})
    metrics = client.get("/metrics").text
    assert (
        'raylake_feature_server_requests_total{endpoint="/get-online-features",status="200"}'
        in metrics
    )
    assert 'raylake_feature_server_errors_total{endpoint="/get-online-features"}' in metrics
    assert (
        'raylake_feature_server_latency_seconds_bucket{endpoint="/get-online-features"' in metrics
    )


def test_registry_changes_are_seen(repo, store) -> None:
    """An apply (new registry file) drops the reader's plans: a new view is served at once."""
    from datetime import timedelta

    from feast import FeatureView, Field
    from feast.types import Int64

    reader = OnlineReader(repo)
    with pytest.raises(UnknownFeatureError):
        reader.read(["late_view:trips"], {"driver_id": [1000]})
    stats = store.get_feature_view("driver_stats")
    late = FeatureView(
        name="late_view",
        entities=[store.get_entity("driver")],
        ttl=timedelta(days=1),
        schema=[Field(name="trips", dtype=Int64)],
        source=stats.batch_source,
    )
    store.apply([late])
    got = reader.read(["late_view:trips"], {"driver_id": [1000]})
    assert got["results"][1]["statuses"] == ["NOT_FOUND"]  # applied, never materialized


def test_running_serves_a_workspace_in_the_background(local_ws) -> None:
    """ws.features' repo served on a free port; nothing applied yet, so features are unknown."""
    import httpx

    from raylake.features._server import running

    with running(local_ws.features) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(f"{url}/health").status_code == 200
        body = {"features": ["driver_stats:trips"], "entities": {"driver_id": [1]}}
        response = httpx.post(f"{url}{URL}", json=body)
        assert response.status_code == 404
        assert "driver_stats" in response.json()["detail"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")


def test_reader_pickles_by_repo(reader) -> None:
    """Handed to another process (e.g. a Ray Serve replica) it reopens the repo there."""
    import pickle

    copy = pickle.loads(pickle.dumps(reader))
    assert copy.max_entities == reader.max_entities
    entities = {"driver_id": [1000, 1001]}
    assert copy.read(["driver_stats:trips"], entities) == reader.read(
        ["driver_stats:trips"], entities
    )


def test_http_oversized_body_is_413(client, reader) -> None:
    padding = "x" * (1_000_000 + 1_000 * reader.max_entities + 1)
    body = {"features": ["driver_stats:trips"], "entities": {"driver_id": [1]}, "pad": padding}
    response = client.post(URL, json=body)
    assert response.status_code == 413
    assert "byte limit" in response.json()["detail"]
