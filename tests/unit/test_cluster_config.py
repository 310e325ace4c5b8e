"""cluster.yaml is a config `ray up` accepts, and its raylake settings are valid settings."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

import raylake

ROOT = Path(__file__).resolve().parents[2]


def test_cluster_yaml_passes_ray_launcher_validation():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(prepare_config(config))  # what `ray up` runs: defaults, then the schema
    mounts = config["file_mounts"]
    assert mounts["~/.raylake/raylake.toml"] == "./cluster.raylake.toml"
    assert (ROOT / "cluster.raylake.toml").exists()
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert workers and all(t["max_workers"] >= t["min_workers"] for t in workers)
    start = " ".join(config["head_start_ray_commands"] + config["worker_start_ray_commands"])
    assert start.count("RAY_AUTH_MODE=token") == 2


def test_cluster_settings_file_is_valid_raylake_settings(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "raylake.toml").write_text((ROOT / "cluster.raylake.toml").read_text())
    settings = raylake.Settings(home=home)
    expected = tomllib.loads((ROOT / "cluster.raylake.toml").read_text())
    assert settings.ray_address == "auto"
    assert settings.catalog_url.startswith("postgresql")
    assert settings.mlflow_tracking_uri.startswith("http")
    assert settings.online_store_url.startswith("redis://")
    assert settings.storage_root.startswith("s3://")
    assert settings.storage_options == expected["storage_options"]
