"""The workspace's Feast repo: ``<home>/features/feature_store.yaml`` written from settings.

A real Feast repo on disk (not an in-memory ``RepoConfig``) so ``feast -c <home>/features ...``
works on the same registry and online store as the SDK.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

from raylake.errors import SettingsError
from raylake.settings import Settings

PROJECT = "raylake"
REPO_DIR = "features"
CONFIG_FILE = "feature_store.yaml"
# By name, not import: importing Feast's Dask store costs a second when nobody needs it.
DELTA_FILE_STORE = "raylake.features._offline_store.DeltaFileOfflineStore"


def repo_path(settings: Settings) -> Path:
    return settings.home / REPO_DIR


def online_store_config(settings: Settings, repo: Path) -> dict:
    """SQLite in the repo by default; Redis for a ``redis://[:password@]host:port[/db]`` URL."""
    url = settings.online_store_url
    if not url:
        return {"type": "sqlite", "path": str(repo / "online_store.db")}
    parsed = urlparse(url)
    if parsed.scheme not in ("redis", "rediss"):
        raise SettingsError(f"online_store_url must start with redis:// (got {url!r})")
    if not parsed.hostname:
        raise SettingsError(f"online_store_url has no host: {url!r}")
    # Feast's Redis store takes "host:port,db=N,password=...,ssl=true", not a URL.
    parts = [f"{parsed.hostname}:{parsed.port or 6379}"]
    db = parsed.path.strip("/")
    if db:
        if not db.isdigit():
            raise SettingsError(f"online_store_url database must be a number: {url!r}")
        parts.append(f"db={db}")
    if parsed.password:
        parts.append(f"password={unquote(parsed.password)}")
    if parsed.scheme == "rediss":
        parts.append("ssl=true")
    return {"type": "redis", "connection_string": ",".join(parts)}


def repo_config(settings: Settings, repo: Path) -> dict:
    return {
        "project": PROJECT,
        "registry": {"registry_type": "file", "path": str(repo / "registry.db")},
        "provider": "local",
        # Feast's file (Dask) store, made to read Delta sources through the Delta log (see
        # _offline_store): it serves `feast` CLI reads; raylake's own paths pin versions.
        "offline_store": {"type": DELTA_FILE_STORE},
        "online_store": online_store_config(settings, repo),
        "entity_key_serialization_version": 3,
    }


def write_repo(settings: Settings) -> Path:
    """Create or update the repo folder; returns it. Rewrites the file only when it changed."""
    repo = repo_path(settings)
    repo.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(repo_config(settings, repo), sort_keys=False)
    config = repo / CONFIG_FILE
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return repo
