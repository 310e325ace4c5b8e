"""``raylake principals|tokens|grants|audit`` against a real workspace on disk (no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

import raylake
from raylake.cli import app

ENV = {"COLUMNS": "250"}


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, ["--home", str(home), *args], env={**ENV, **(env or {})})


def ok(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = cli(home, *args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result.stdout


@pytest.fixture
def filled(home: Path) -> Path:
    with raylake.connect(home=home, user="admin") as ws:
        ws.catalog.create_schema("sales")
        ws.write_table("sales.orders", pd.DataFrame({"id": [1, 2]}))
    return home


def test_principals_tokens_grants_and_audit_from_the_cli(filled: Path) -> None:
    admin = {"RAYLAKE_USER": "admin", "RAYLAKE_AUTH": "on"}
    alice = {"RAYLAKE_USER": "alice", "RAYLAKE_AUTH": "on"}
    ok(filled, "principals", "create", "alice", env=admin)
    ok(
        filled,
        "principals",
        "create",
        "analysts",
        "--kind",
        "group",
        "--member",
        "alice",
        env=admin,
    )
    listed = json.loads(ok(filled, "principals", "list", "--json", env=admin))
    assert {p["name"]: p["members"] for p in listed} == {"alice": [], "analysts": ["alice"]}

    assert "granted USE on catalog main to analysts" in ok(
        filled, "grants", "grant", "use", "catalog", "main", "analysts", env=admin
    )
    ok(filled, "grants", "grant", "SELECT", "table", "sales.orders", "analysts", env=admin)
    shown = json.loads(ok(filled, "grants", "show", "analysts", "--json", env=admin))
    assert {(g["privilege"], g["securable_name"]) for g in shown} == {
        ("USE", "main"),
        ("SELECT", "main.sales.orders"),
    }
    assert "analysts" in ok(filled, "grants", "show", "sales.orders", "--type", "table", env=admin)

    # Refused: one line on stderr, exit 1, audited.
    refused = cli(filled, "grants", "grant", "SELECT", "table", "sales.orders", "alice", env=alice)
    assert refused.exit_code == 1
    assert (
        refused.stderr.startswith("error: alice may not grant") and refused.stderr.count("\n") == 1
    )

    token = ok(filled, "tokens", "create", "--comment", "ci", env=alice).strip()
    assert token.startswith("rlk_")
    [info] = json.loads(ok(filled, "tokens", "list", "--json", env=alice))
    assert info["principal"] == "alice" and token not in json.dumps(info)
    assert "revoked" in ok(filled, "tokens", "revoke", info["id"], env=alice)

    events = json.loads(ok(filled, "audit", "--principal", "alice", "--json", env=admin))
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("revoke_token", "ok"),
        ("create_token", "ok"),
        ("grant", "denied"),
    ]
    out = ok(filled, "audit", "--action", "grant", "--export", env=admin)
    assert "main.system.audit is at version 0" in out
    assert "denied" in out
    assert ok(filled, "grants", "revoke", "SELECT", "table", "sales.orders", "analysts", env=admin)
    assert "no grant" in ok(
        filled, "grants", "revoke", "SELECT", "table", "sales.orders", "analysts", env=admin
    )


def test_cli_errors_are_one_line(filled: Path) -> None:
    for args in (
        ("grants", "grant", "READ", "table", "sales.orders", "x"),
        ("grants", "grant", "SELECT", "view", "sales.orders", "x"),
        ("principals", "create", "x", "--kind", "robot"),
        ("tokens", "revoke", "nope"),
        ("audit", "--since", "last tuesday"),
    ):
        result = cli(filled, *args)
        assert result.exit_code in (1, 2), args
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, (
            args,
            result.stderr,
        )


def test_cli_listings_show_what_the_user_may_see(filled: Path) -> None:
    with raylake.connect(home=filled, user="admin") as ws:
        ws.catalog.create_schema("hr")
        ws.write_table("hr.people", pd.DataFrame({"id": [1]}))
        ws.principals.create_user("alice")
    alice = {"RAYLAKE_USER": "alice", "RAYLAKE_AUTH": "on"}
    admin = {"RAYLAKE_USER": "admin", "RAYLAKE_AUTH": "on"}

    def names(*args: str, env: dict[str, str]) -> set[str]:
        listed = json.loads(ok(filled, *args, "--json", env=env))
        return {x.get("full_name") or f"{x['catalog']}.{x['name']}" for x in listed}

    assert names("tables", "list", env=alice) == set()
    assert names("schemas", "list", env=alice) == set()
    assert "no tables" in ok(filled, "tables", "list", env=alice)
    ok(filled, "grants", "grant", "SELECT", "table", "sales.orders", "alice", env=admin)
    ok(filled, "grants", "grant", "USE", "schema", "sales", "alice", env=admin)
    assert names("tables", "list", env=alice) == {"main.sales.orders"}
    assert names("tables", "list", "sales", env=alice) == {"main.sales.orders"}
    assert names("schemas", "list", env=alice) == {"main.sales"}
    # A schema she may not see is one that is not there (as for a missing one).
    hidden = cli(filled, "tables", "list", "hr", env=alice)
    assert hidden.exit_code == 1 and "schema main.hr does not exist" in hidden.stderr
    everything = {"main.hr.people", "main.sales.orders"}
    assert names("tables", "list", env=admin) == everything  # the owner of main: an admin
    assert names("tables", "list", env={"RAYLAKE_USER": "alice"}) == everything  # auth off
    assert names("schemas", "list", env={"RAYLAKE_USER": "alice"}) == {
        "main.default",
        "main.hr",
        "main.sales",
    }
