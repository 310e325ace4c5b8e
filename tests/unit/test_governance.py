"""Governance on a real SQLite catalog without Ray: principals, tokens, grants, enforcement,
audit. ``local_ws`` (the workspace's first user) owns catalog ``main`` and so is its admin;
other users act through workspaces opened on the same home with ``auth=True``."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

import raylake
from raylake.errors import (
    InvalidArgumentError,
    InvalidTokenError,
    PermissionDeniedError,
    PrincipalExistsError,
    PrincipalNotFoundError,
    SchemaNotFoundError,
    TableNotFoundError,
)
from raylake.governance import audit_event, securable
from raylake.governance.tokens import token_hash


def _df(values: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"id": pd.Series(values, dtype="int64")})


@pytest.fixture
def admin(local_ws: raylake.Workspace) -> raylake.Workspace:
    local_ws.catalog.create_schema("sales")
    local_ws.write_table("sales.orders", _df([1, 2]))
    for user in ("alice", "bob"):
        local_ws.principals.create_user(user)
    return local_ws


@pytest.fixture
def as_user(admin: raylake.Workspace) -> Iterator[Callable[[str], raylake.Workspace]]:
    """Open the admin's workspace as another user, with auth on."""
    opened: list[raylake.Workspace] = []

    def open_as(user: str) -> raylake.Workspace:
        ws = raylake.connect(home=admin.settings.home, user=user, auth=True)
        opened.append(ws)
        return ws

    yield open_as
    for ws in opened:
        ws.close()


def _rows(ws: raylake.Workspace, sql: str) -> list[tuple]:
    path = ws.settings.catalog_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


# -- names and settings ------------------------------------------------------------------------
def test_securable_names_resolve_like_the_rest_of_raylake() -> None:
    assert securable("table", "orders").name == "main.default.orders"
    assert securable("TABLE", "sales.orders").name == "main.sales.orders"
    assert securable("schema", "sales").name == "main.sales"
    assert securable("model", "churn").name == "main.models.churn"
    assert securable("endpoint", "churn-api").name == "churn-api"
    assert [str(p) for p in securable("table", "sales.orders").parents] == [
        "schema main.sales",
        "catalog main",
    ]
    with pytest.raises(InvalidArgumentError):
        securable("view", "x")
    with pytest.raises(raylake.InvalidNameError):
        securable("table", "Bad.Name")


@pytest.mark.parametrize(("value", "expected"), [("on", True), ("off", False), ("true", True)])
def test_auth_setting_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, home: Path, value: str, expected: bool
) -> None:
    monkeypatch.setenv("RAYLAKE_AUTH", value)
    assert raylake.Settings(home=home).auth is expected
    monkeypatch.delenv("RAYLAKE_AUTH")
    assert raylake.Settings(home=home).auth is False  # off by default


# -- principals --------------------------------------------------------------------------------
def test_users_groups_and_service_principals(admin: raylake.Workspace) -> None:
    ps = admin.principals
    ps.create_service_principal("etl-bot")
    analysts = ps.create_group("analysts", members=["alice"])
    assert analysts.members == ["alice"]
    ps.create_group("everyone", members=["analysts", "bob"])
    assert ps.get("alice").groups == ["analysts"]
    assert {p.name: p.kind for p in ps.list()} == {
        "alice": "user",
        "analysts": "group",
        "bob": "user",
        "etl-bot": "service_principal",
        "everyone": "group",
    }
    assert [p.name for p in ps.list("group")] == ["analysts", "everyone"]
    with pytest.raises(PrincipalExistsError):
        ps.create_user("alice")
    with pytest.raises(InvalidArgumentError):  # a cycle: everyone is in ... analysts
        ps.add_member("analysts", "everyone")
    with pytest.raises(InvalidArgumentError):
        ps.add_member("alice", "bob")  # not a group
    with pytest.raises(PrincipalNotFoundError):
        ps.add_member("analysts", "nobody")
    with pytest.raises(InvalidArgumentError):
        ps.create_user("has space")
    ps.remove_member("analysts", "alice")
    assert ps.get("analysts").members == []
    admin.grant("SELECT", "table", "sales.orders", "bob")
    ps.delete("bob")
    assert admin.show_grants(principal="bob") == []
    assert ps.get("everyone").members == ["analysts"]
    with pytest.raises(PrincipalNotFoundError):
        ps.get("bob")


# -- tokens ------------------------------------------------------------------------------------
def test_tokens_are_shown_once_and_kept_only_as_a_hash(admin: raylake.Workspace) -> None:
    secret = admin.tokens.create("alice", comment="notebook")
    assert secret.startswith("rlk_") and len(secret) > 40
    assert admin.tokens.authenticate(secret) == "alice"
    [info] = admin.tokens.list("alice")
    assert info.active and info.comment == "notebook" and not hasattr(info, "secret")
    # At rest: the SHA-256 only; the secret is nowhere in the database file.
    assert _rows(admin, "select token_hash from api_tokens") == [(token_hash(secret),)]
    db = Path(admin.settings.catalog_url.removeprefix("sqlite:///"))
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert secret.encode() not in raw
    # A second token is different; revoking one leaves the other working.
    other = admin.tokens.create("alice")
    assert other != secret
    admin.tokens.revoke(info.id)
    with pytest.raises(InvalidTokenError):
        admin.tokens.authenticate(secret)
    assert admin.tokens.authenticate(other) == "alice"
    assert [t.active for t in admin.tokens.list("alice")] == [False, True]


def test_bad_tokens_all_fail_the_same_way(admin: raylake.Workspace) -> None:
    good = admin.tokens.create("alice")
    expired = admin.tokens.create("bob", expires_in=timedelta(microseconds=1))
    candidates = [
        "",
        "garbage",
        "rlk_",
        good[:-1],
        good + "x",
        good.upper(),
        "Bearer " + good,
        expired,
        "x" * 10_000,
        None,
    ]
    messages = set()
    for bad in candidates:
        with pytest.raises(InvalidTokenError) as err:
            admin.tokens.authenticate(bad)  # type: ignore[arg-type]
        messages.add(str(err.value))
    assert len(messages) == 1  # nothing says which part was wrong
    refused = admin.audit(action="authenticate")
    assert len(refused) == len(candidates)
    assert {e.outcome for e in refused} == {"denied"} and {e.principal for e in refused} == {
        "anonymous"
    }


def test_tokens_for_others_need_an_admin(admin: raylake.Workspace, as_user) -> None:
    admin.principals.create_group("analysts")
    alice = as_user("alice")
    mine = alice.tokens.create()  # for herself: fine
    assert alice.tokens.authenticate(mine) == "alice"
    with pytest.raises(PermissionDeniedError):
        alice.tokens.create("bob")
    bob_token = admin.tokens.create("bob")
    assert {t.principal for t in alice.tokens.list()} == {"alice"}  # only her own
    [bobs] = admin.tokens.list("bob")
    with pytest.raises(PermissionDeniedError):
        alice.tokens.revoke(bobs.id)
    assert admin.tokens.authenticate(bob_token) == "bob"
    with pytest.raises(InvalidArgumentError):
        admin.tokens.create("analysts")  # groups cannot sign in


# -- grants and enforcement --------------------------------------------------------------------
def test_reading_needs_select_and_use_inherited_downwards(
    admin: raylake.Workspace, as_user
) -> None:
    alice = as_user("alice")
    with pytest.raises(PermissionDeniedError, match="USE on catalog main"):
        alice.table("sales.orders")
    admin.grant("USE", "catalog", "main", "alice")
    with pytest.raises(PermissionDeniedError, match="SELECT on table main.sales.orders"):
        alice.table("sales.orders")
    admin.grant("SELECT", "schema", "sales", "alice")  # holds for every table in the schema
    assert alice.table("sales.orders").num_rows() == 2
    assert alice.catalog.describe("sales.orders").num_rows == 2
    with pytest.raises(PermissionDeniedError):  # SELECT is not MODIFY
        alice.write_table("sales.orders", _df([3]))
    assert admin.revoke("SELECT", "schema", "sales", "alice") is True
    assert admin.revoke("SELECT", "schema", "sales", "alice") is False
    with pytest.raises(PermissionDeniedError):
        alice.table("sales.orders")
    admin.grant("SELECT", "catalog", "main", "alice")  # from the catalog down
    assert alice.table("sales.orders").num_rows() == 2


def test_a_group_grant_holds_for_members_of_nested_groups(
    admin: raylake.Workspace, as_user
) -> None:
    admin.principals.create_group("analysts", members=["alice"])
    admin.principals.create_group("staff", members=["analysts"])
    admin.grant("USE", "catalog", "main", "staff")
    admin.grant("MODIFY", "table", "sales.orders", "staff")
    admin.grant("SELECT", "table", "sales.orders", "analysts")
    alice, bob = as_user("alice"), as_user("bob")
    assert alice.write_table("sales.orders", _df([3])) == 1
    assert alice.table("sales.orders").num_rows() == 3
    with pytest.raises(PermissionDeniedError):
        bob.table("sales.orders")
    admin.principals.remove_member("analysts", "alice")
    with pytest.raises(PermissionDeniedError):
        alice.write_table("sales.orders", _df([4]))


def test_owners_hold_every_privilege(admin: raylake.Workspace, as_user) -> None:
    admin.grant("USE", "catalog", "main", "alice")
    admin.grant("USE", "schema", "sales", "alice")
    alice, bob = as_user("alice"), as_user("bob")
    with pytest.raises(PermissionDeniedError, match="CREATE on schema main.sales"):
        alice.write_table("sales.mine", _df([1]))
    admin.grant("CREATE", "schema", "sales", "alice")
    alice.write_table("sales.mine", _df([1]))  # creating makes her the owner...
    assert alice.catalog.describe("sales.mine").info.owner == "alice"
    alice.write_table("sales.mine", _df([2]), mode="overwrite")  # ...so she may write,
    alice.catalog.set_tags("sales.mine", {"pii": "no"})  # tag,
    alice.grant("SELECT", "table", "sales.mine", "bob")  # and grant
    with pytest.raises(PermissionDeniedError, match="USE on catalog main"):
        bob.table("sales.mine")
    admin.grant("USE", "catalog", "main", "bob")  # USE on the catalog holds for its schemas
    assert bob.table("sales.mine").num_rows() == 1
    with pytest.raises(PermissionDeniedError):  # bob cannot pass it on
        bob.grant("SELECT", "table", "sales.mine", "alice")
    with pytest.raises(PermissionDeniedError):  # nor drop it
        bob.catalog.drop_table("sales.mine")
    alice.catalog.drop_table("sales.mine")
    with pytest.raises(TableNotFoundError):
        admin.table("sales.mine")


def test_manage_allows_granting_and_schemas_need_create_on_the_catalog(
    admin: raylake.Workspace, as_user
) -> None:
    alice = as_user("alice")
    with pytest.raises(PermissionDeniedError):
        alice.catalog.create_schema("scratch")
    admin.grant("USE", "catalog", "main", "alice")
    admin.grant("CREATE", "catalog", "main", "alice")
    assert alice.catalog.create_schema("scratch").owner == "alice"
    admin.grant("MANAGE", "table", "sales.orders", "alice")
    alice.grant("SELECT", "table", "sales.orders", "bob")
    shown = admin.show_grants("sales.orders", securable_type="table")
    assert [(g.principal, g.privilege, g.granted_by) for g in shown] == [
        ("alice", "MANAGE", admin.settings.user),
        ("bob", "SELECT", "alice"),
    ]


def test_refused_actions_change_nothing(admin: raylake.Workspace, as_user, tmp_path: Path) -> None:
    admin.grant("USE", "catalog", "main", "alice")
    admin.grant("USE", "schema", "sales", "alice")
    alice = as_user("alice")
    table = admin.table("sales.orders")
    before = (table.version, sorted(table.files()), admin.catalog.describe("sales.orders").info)
    grants_before = admin.show_grants()
    attempts = [
        lambda: alice.write_table("sales.orders", _df([9]), mode="overwrite"),
        lambda: alice.write_table("sales.new_table", _df([9])),
        lambda: alice.catalog.set_tags("sales.orders", {"x": "y"}),
        lambda: alice.catalog.set_comment("sales.orders", "mine"),
        lambda: alice.catalog.drop_table("sales.orders"),
        lambda: alice.catalog.drop_schema("sales"),
        lambda: alice.catalog.create_schema("other"),
        lambda: alice.catalog.register_table("sales.copy", table.location),
        lambda: alice.grant("SELECT", "table", "sales.orders", "alice"),
        lambda: alice.revoke("USE", "schema", "sales", "alice"),
        lambda: alice.principals.create_user("mallory"),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDeniedError):
            attempt()
    table = admin.table("sales.orders")
    after = (table.version, sorted(table.files()), admin.catalog.describe("sales.orders").info)
    assert after == before
    assert [t.full_name for t in admin.catalog.list_tables("sales")] == ["main.sales.orders"]
    assert [s.full_name for s in admin.catalog.list_schemas()] == ["main.default", "main.sales"]
    assert not (Path(admin.settings.storage_root) / "main" / "sales" / "new_table").exists()
    assert admin.show_grants() == grants_before
    assert [p.name for p in admin.principals.list()] == ["alice", "bob"]
    denied = admin.audit(principal="alice", limit=1000)
    assert len(denied) == len(attempts) and {e.outcome for e in denied} == {"denied"}


def test_table_maintenance_needs_modify(admin: raylake.Workspace, as_user) -> None:
    admin.write_table("sales.orders", _df([3]))  # v1
    admin.grant("USE", "catalog", "main", "alice")
    admin.grant("SELECT", "table", "sales.orders", "alice")
    t = as_user("alice").table("sales.orders")  # reading is allowed...
    assert t.vacuum(dry_run=True) == []  # ...and so is a dry run
    for change in (lambda: t.restore(0), t.optimize, lambda: t.vacuum(retention_hours=0)):
        with pytest.raises(PermissionDeniedError, match="MODIFY"):
            change()
    assert admin.table("sales.orders").version == 1
    admin.grant("MODIFY", "table", "sales.orders", "alice")
    assert t.restore(0) == 2


def test_grants_check_their_targets(admin: raylake.Workspace) -> None:
    with pytest.raises(PrincipalNotFoundError):
        admin.grant("SELECT", "table", "sales.orders", "nobody")
    with pytest.raises(TableNotFoundError):
        admin.grant("SELECT", "table", "sales.nope", "alice")
    with pytest.raises(SchemaNotFoundError):
        admin.grant("USE", "schema", "nope", "alice")
    with pytest.raises(InvalidArgumentError):
        admin.grant("READ", "table", "sales.orders", "alice")
    with pytest.raises(InvalidArgumentError):
        admin.grant("EXECUTE", "table", "sales.orders", "alice")
    # Models, feature views and endpoints live elsewhere: grants may come first.
    admin.grant("EXECUTE", "endpoint", "churn", "alice")
    admin.grant("select", "feature_view", "user_stats", "alice")
    g1 = admin.grant("SELECT", "model", "churn", "alice")
    assert admin.grant("SELECT", "model", "main.models.churn", "alice") == g1  # idempotent
    assert {
        (g.securable_type, g.securable_name, g.privilege) for g in admin.show_grants("alice")
    } == {
        ("endpoint", "churn", "EXECUTE"),
        ("feature_view", "user_stats", "SELECT"),
        ("model", "main.models.churn", "SELECT"),
    }


def test_show_grants_by_securable_principal_and_inherited(admin: raylake.Workspace) -> None:
    admin.principals.create_group("analysts")
    admin.grant("USE", "catalog", "main", "analysts")
    admin.grant("SELECT", "schema", "sales", "analysts")
    admin.grant("MODIFY", "table", "sales.orders", "alice")
    direct = admin.show_grants("sales.orders", securable_type="table")
    assert [(g.principal, g.privilege) for g in direct] == [("alice", "MODIFY")]
    every = admin.show_grants("sales.orders", securable_type="table", inherited=True)
    assert {(g.principal, g.privilege, g.inherited_from) for g in every} == {
        ("alice", "MODIFY", None),
        ("analysts", "SELECT", "schema main.sales"),
        ("analysts", "USE", "catalog main"),
    }
    assert {g.privilege for g in admin.show_grants(principal="analysts")} == {"USE", "SELECT"}
    assert {g.privilege for g in admin.show_grants("analysts")} == {"USE", "SELECT"}


def test_with_auth_off_nothing_is_checked(admin: raylake.Workspace) -> None:
    with raylake.connect(home=admin.settings.home, user="bob") as bob:  # auth off
        assert bob.write_table("sales.orders", _df([3])) == 1
        assert bob.table("sales.orders").num_rows() == 3
    # Data access is audited only with auth on; grants always are.
    assert admin.audit(principal="bob") == []


def test_registering_a_model_needs_create_on_its_schema(admin: raylake.Workspace, as_user) -> None:
    admin.catalog.create_schema("models")
    admin.grant("USE", "catalog", "main", "alice")
    admin.grant("USE", "schema", "models", "alice")
    alice = as_user("alice")
    with pytest.raises(PermissionDeniedError, match="CREATE on schema main.models"):
        alice.models.register(object(), "churn", input_example=_df([1]))
    with pytest.raises(PermissionDeniedError, match="MODIFY on model main.models.churn"):
        alice.models.set_alias("churn", "champion", 1)
    with pytest.raises(PermissionDeniedError, match="SELECT on model main.models.churn"):
        alice.models.load("churn", 1)
    assert alice.models.list() == []  # refused before anything was logged or registered
    assert [e.action for e in admin.audit(principal="alice")] == [
        "load_model",
        "set_alias",
        "register_model",
    ]


# -- listings --------------------------------------------------------------------------------------
@pytest.fixture
def listed(admin: raylake.Workspace) -> raylake.Workspace:
    """Schemas main.default, main.sales (orders, items), main.hr (people), all the admin's."""
    admin.write_table("sales.items", _df([1]))
    admin.catalog.create_schema("hr")
    admin.write_table("hr.people", _df([1]))
    return admin


ALL_SCHEMAS = {"main.default", "main.hr", "main.sales"}
ALL_TABLES = {"main.hr.people", "main.sales.items", "main.sales.orders"}


def _schemas(ws: raylake.Workspace, catalog: str | None = None) -> set[str]:
    return {s.full_name for s in ws.catalog.list_schemas(catalog)}


def _tables(ws: raylake.Workspace, schema: str | None = None) -> set[str]:
    return {t.full_name for t in ws.catalog.list_tables(schema)}


def test_without_a_privilege_nothing_is_listed(listed: raylake.Workspace, as_user) -> None:
    alice = as_user("alice")
    assert _schemas(alice) == set() and _schemas(alice, "main") == set()
    assert _tables(alice) == set() and _tables(alice, "sales") == set()
    with pytest.raises(PermissionDeniedError):  # describe keeps the guard's answer
        alice.catalog.describe("sales.orders")
    # Listing is not audited (nothing was refused); the describe is.
    assert [e.action for e in listed.audit(principal="alice")] == ["read"]


def test_select_on_one_table_lists_that_table_and_use_shows_its_parents(
    listed: raylake.Workspace, as_user
) -> None:
    listed.grant("SELECT", "table", "sales.orders", "alice")
    alice = as_user("alice")
    assert _tables(alice) == {"main.sales.orders"}
    assert _tables(alice, "sales") == {"main.sales.orders"} and _tables(alice, "hr") == set()
    # Privileges flow down, never up: SELECT on a table is no privilege on its schema.
    assert _schemas(alice) == set()
    listed.grant("USE", "schema", "sales", "alice")
    assert _schemas(alice) == {"main.sales"}
    # USE on the catalog holds for all its schemas (so shows them), but USE is no privilege
    # on data: it shows no table.
    listed.grant("USE", "catalog", "main", "alice")
    assert _schemas(alice) == ALL_SCHEMAS
    assert _tables(alice) == {"main.sales.orders"}
    assert alice.catalog.describe("sales.orders").num_rows == 2
    assert listed.revoke("SELECT", "table", "sales.orders", "alice")
    assert _tables(alice) == set()


def test_a_schema_or_catalog_grant_lists_what_is_inside(listed: raylake.Workspace, as_user) -> None:
    listed.principals.create_group("analysts", members=["alice"])
    listed.principals.create_group("staff", members=["analysts"])
    listed.grant("SELECT", "schema", "sales", "staff")  # through two groups
    alice, bob = as_user("alice"), as_user("bob")
    assert _tables(alice) == {"main.sales.items", "main.sales.orders"}
    assert _schemas(alice) == {"main.sales"}
    assert _tables(bob) == set() and _schemas(bob) == set()
    listed.grant("MODIFY", "catalog", "main", "bob")
    assert _tables(bob) == ALL_TABLES and _schemas(bob) == ALL_SCHEMAS
    listed.grant("CREATE", "schema", "hr", "alice")  # may add tables: sees none of hr's
    assert _tables(alice) == {"main.sales.items", "main.sales.orders"}
    assert _schemas(alice) == {"main.hr", "main.sales"}
    listed.grant("MODIFY", "table", "hr.people", "analysts")
    assert _tables(alice) == ALL_TABLES


def test_owners_see_what_they_own(listed: raylake.Workspace, as_user) -> None:
    listed.grant("USE", "catalog", "main", "alice")
    listed.grant("CREATE", "schema", "sales", "alice")
    alice = as_user("alice")
    alice.write_table("sales.mine", _df([1]))  # her table; CREATE shows no one else's
    assert _tables(alice) == {"main.sales.mine"}
    listed.grant("CREATE", "catalog", "main", "alice")
    alice.catalog.create_schema("scratch")
    listed.write_table("scratch.theirs", _df([1]))  # in her schema: she owns what holds it
    assert _tables(alice) == {"main.sales.mine", "main.scratch.theirs"}
    assert _schemas(alice) == {*ALL_SCHEMAS, "main.scratch"}
    bob = as_user("bob")
    assert _tables(bob) == set()


def test_admins_and_auth_off_see_everything(listed: raylake.Workspace, as_user) -> None:
    owner = as_user(listed.settings.user)  # the owner of catalog main, auth on
    assert _tables(owner) == ALL_TABLES and _schemas(owner) == ALL_SCHEMAS
    listed.principals.create_group("admins", members=["bob"])
    bob = as_user("bob")
    assert _tables(bob) == ALL_TABLES and _schemas(bob) == ALL_SCHEMAS
    with raylake.connect(home=listed.settings.home, user="alice") as alice:  # auth off
        assert _tables(alice) == ALL_TABLES and _schemas(alice) == ALL_SCHEMAS


def test_a_listing_costs_a_constant_number_of_queries(listed: raylake.Workspace, as_user) -> None:
    from sqlalchemy import event

    listed.grant("SELECT", "table", "sales.orders", "alice")
    alice = as_user("alice")
    statements: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        statements.append(statement)

    def queries(ws: raylake.Workspace) -> int:
        engine = ws._store.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            statements.clear()
            ws.catalog.list_tables()
            return len(statements)
        finally:
            event.remove(engine, "before_cursor_execute", count)

    assert queries(listed) == 1  # auth off: the listing alone, no governance query
    before = queries(alice)
    for i in range(10):
        listed.write_table(f"hr.t{i}", _df([i]))
        listed.grant("SELECT", "table", f"hr.t{i}", "alice")
    assert queries(alice) == before <= 6
    assert len(alice.catalog.list_tables()) == 11


def test_model_listings_follow_the_same_rule(listed: raylake.Workspace, as_user) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(listed.settings.mlflow_tracking_uri)
    for name in ("main.models.churn", "main.ml.score", "main.ml.rank"):
        client.create_registered_model(name)
    listed.catalog.create_schema("ml")
    listed.grant("SELECT", "schema", "ml", "alice")
    listed.grant("MODIFY", "model", "churn", "bob")
    listed.grant("USE", "catalog", "main", "bob")  # USE shows no model
    alice, bob = as_user("alice"), as_user("bob")
    assert [m.name for m in alice.models.list()] == ["main.ml.rank", "main.ml.score"]
    assert [m.name for m in alice.catalog.list_models("ml")] == ["main.ml.rank", "main.ml.score"]
    assert [m.name for m in bob.models.list()] == ["main.models.churn"]
    assert len(listed.models.list()) == 3  # auth off


# -- audit ---------------------------------------------------------------------------------------
def test_audit_records_who_what_when_and_outcome(admin: raylake.Workspace, as_user) -> None:
    admin.grant("USE", "catalog", "main", "alice")
    admin.grant("SELECT", "table", "sales.orders", "alice")
    alice = as_user("alice")
    alice.table("sales.orders")
    with pytest.raises(PermissionDeniedError):
        alice.write_table("sales.orders", _df([5]))
    events = admin.audit(principal="alice")
    assert [(e.action, e.outcome, e.securable_name) for e in events] == [
        ("write", "denied", "main.sales.orders"),
        ("read", "allowed", "main.sales.orders"),
    ]
    assert events[0].detail["missing"] == "MODIFY on table main.sales.orders"
    assert events[0].at >= events[1].at
    grants = admin.audit(action="grant")
    assert [(g.principal, g.securable_name, g.detail["privilege"]) for g in grants] == [
        (admin.settings.user, "main.sales.orders", "SELECT"),
        (admin.settings.user, "main", "USE"),
    ]
    assert len(admin.audit(limit=2)) == 2
    assert admin.audit(since=timedelta(hours=1))
    assert admin.audit(since="2999-01-01T00:00:00+00:00") == []
    with pytest.raises(InvalidArgumentError):
        admin.audit(since="yesterday-ish")
    # Non-admins read only their own events.
    assert {e.principal for e in alice.audit()} == {"alice"}
    with pytest.raises(PermissionDeniedError):
        alice.audit(principal=admin.settings.user)


def test_audit_exports_to_a_delta_table_without_duplicates(admin: raylake.Workspace) -> None:
    admin.grant("SELECT", "table", "sales.orders", "alice")
    audit_event(admin, "deploy", "endpoint", "churn", detail={"version": 3})
    v0 = admin.audit_table()
    first = admin.table("main.system.audit").to_pandas().sort_values("id")
    assert list(first.action) == ["create_user", "create_user", "grant", "deploy"]
    assert first.iloc[-1].securable_name == "churn"
    assert json.loads(first.iloc[-1].detail) == {"version": 3}
    # The next export appends only what happened since (here: the first export itself).
    assert admin.audit_table() == v0 + 1
    second = admin.table("main.system.audit").to_pandas().sort_values("id")
    assert second["id"].is_unique
    assert list(second.action) == [*first.action, "export_audit"]


def test_migration_0004_downgrades_and_upgrades(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import inspect

    from raylake.catalog import CatalogStore
    from raylake.catalog.migrate import alembic_config

    store = CatalogStore(f"sqlite:///{tmp_path / 'c.db'}")
    governance = {"principals", "group_members", "api_tokens", "grants", "audit_log"}
    assert governance <= set(inspect(store.engine).get_table_names())
    cfg = alembic_config(store.engine)
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    assert not governance & set(inspect(store.engine).get_table_names())
    store.close()
    CatalogStore(store.url).close()  # opening upgrades again
    assert governance <= set(inspect(store.engine).get_table_names())
