"""The workspace's Ray token file (no Ray started): created once, owner-only, and the
environment the local Ray inherits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from ray._raylet import AuthenticationTokenLoader, Config

from raylake.compute.ray_auth import enable_token_auth, ensure_token_file, token_path


def test_token_file_is_created_once_and_owner_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = ensure_token_file(home)
    assert path == token_path(home)
    token = path.read_text()
    assert len(token) == 64 and int(token, 16) >= 0  # 256 random bits, hex like Ray's own
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_token_file(home).read_text() == token  # kept across starts
    path.chmod(0o644)  # loosened by someone: made owner-only again
    ensure_token_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in home.iterdir()] == [path.name]  # no temporary files left behind


def test_enable_sets_the_environment_ray_inherits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN", "would-win-over-the-file")
    path = enable_token_auth(tmp_path)
    assert os.environ["RAY_AUTH_MODE"] == "token"
    assert os.environ["RAY_AUTH_TOKEN_PATH"] == str(path)
    assert "RAY_AUTH_TOKEN" not in os.environ
    # An explicit opt-out is respected (and nothing is written).
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert enable_token_auth(tmp_path / "other") is None
    assert not (tmp_path / "other").exists()
    # Leave Ray's per-process caches as the restored environment says (later tests start Ray).
    monkeypatch.undo()
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
