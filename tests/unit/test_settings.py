"""Settings precedence: kwargs > RAYLAKE_* environment > raylake.toml in the home > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylake.errors import SettingsError
from raylake.settings import CONFIG_FILE_NAME, Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RAYLAKE_* variable of the outer environment leaks into these tests."""
    import os

    for key in list(os.environ):
        if key.startswith("RAYLAKE_"):
            monkeypatch.delenv(key)


def _toml(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / CONFIG_FILE_NAME
    path.write_text(text)
    return path


def test_defaults_live_under_the_home(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path / "h")
    assert s.home == (tmp_path / "h").absolute()
    assert s.catalog_url == f"sqlite:///{tmp_path / 'h' / 'catalog.db'}"
    assert s.storage_root == str(tmp_path / "h" / "tables")
    assert s.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'h' / 'mlflow.db'}"
    assert s.ray_address is None
    assert s.spark_executors == 1
    assert s.spark_executor_cores == 2
    assert s.spark_executor_memory == "2g"
    assert s.spark_shuffle_partitions == 4
    assert s.storage_options == {}
    assert s.user


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAYLAKE_HOME", str(tmp_path / "envhome"))
    s = load_settings()
    assert s.home == tmp_path / "envhome"
    assert s.storage_root == str(tmp_path / "envhome" / "tables")


def test_home_expands_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load_settings(home="~/ws")
    assert s.home == tmp_path / "ws"


def test_toml_overrides_defaults(tmp_path: Path) -> None:
    home = tmp_path / "h"
    _toml(
        home,
        'spark_executors = 3\nspark_executor_memory = "512m"\nuser = "toml-user"\n'
        '[storage_options]\nAWS_REGION = "eu-west-1"\n',
    )
    s = load_settings(home=home)
    assert s.spark_executors == 3
    assert s.spark_executor_memory == "512m"
    assert s.user == "toml-user"
    assert s.storage_options == {"AWS_REGION": "eu-west-1"}
    assert s.spark_shuffle_partitions == 4  # untouched: the default


def test_toml_is_read_from_the_env_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "envhome"
    _toml(home, "spark_shuffle_partitions = 9\n")
    monkeypatch.setenv("RAYLAKE_HOME", str(home))
    assert load_settings().spark_shuffle_partitions == 9


def test_toml_of_another_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _toml(tmp_path / "envhome", "spark_shuffle_partitions = 9\n")
    _toml(tmp_path / "kwhome", "spark_shuffle_partitions = 7\n")
    monkeypatch.setenv("RAYLAKE_HOME", str(tmp_path / "envhome"))
    # kwargs pick the home, and the TOML file is that home's.
    assert load_settings(home=tmp_path / "kwhome").spark_shuffle_partitions == 7


def test_env_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "h"
    _toml(home, 'spark_executors = 3\nuser = "toml-user"\nray_address = "toml:1"\n')
    monkeypatch.setenv("RAYLAKE_SPARK_EXECUTORS", "5")
    monkeypatch.setenv("RAYLAKE_USER", "env-user")
    monkeypatch.setenv("RAYLAKE_STORAGE_OPTIONS", '{"AWS_REGION": "us-east-1"}')
    s = load_settings(home=home)
    assert s.spark_executors == 5
    assert s.user == "env-user"
    assert s.ray_address == "toml:1"  # not in the environment: the TOML value stays
    assert s.storage_options == {"AWS_REGION": "us-east-1"}


def test_kwargs_override_env_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "h"
    _toml(home, 'spark_executors = 3\nuser = "toml-user"\n')
    monkeypatch.setenv("RAYLAKE_SPARK_EXECUTORS", "5")
    monkeypatch.setenv("RAYLAKE_USER", "env-user")
    s = load_settings(home=home, spark_executors=6, user="kw-user")
    assert s.spark_executors == 6
    assert s.user == "kw-user"


def test_explicit_locations_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "h"
    _toml(home, f'storage_root = "{tmp_path / "toml-tables"}"\n')
    monkeypatch.setenv("RAYLAKE_CATALOG_URL", f"sqlite:///{tmp_path / 'env.db'}")
    s = load_settings(home=home)
    assert s.storage_root == str(tmp_path / "toml-tables")
    assert s.catalog_url == f"sqlite:///{tmp_path / 'env.db'}"
    assert s.mlflow_tracking_uri == f"sqlite:///{home / 'mlflow.db'}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("spark_executors", 0),
        ("spark_executors", "many"),
        ("spark_executor_cores", -1),
        ("spark_shuffle_partitions", 0),
        ("ray_num_cpus", 0),
        ("spark_executor_memory", "lots"),
        ("spark_executor_memory", "2"),
        ("spark_executor_memory", "g"),
        ("spark_executor_memory", ""),
        ("storage_options", "not-a-dict"),
        ("no_such_setting", 1),
    ],
)
def test_invalid_kwargs_raise_settings_error(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(SettingsError):
        load_settings(home=tmp_path, **{key: value})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("RAYLAKE_SPARK_EXECUTORS", "zero"),
        ("RAYLAKE_SPARK_EXECUTORS", "0"),
        ("RAYLAKE_SPARK_EXECUTOR_MEMORY", "2 gigs"),
        ("RAYLAKE_STORAGE_OPTIONS", "{not json"),
    ],
)
def test_invalid_env_raises_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError):
        load_settings(home=tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "spark_executors = 0\n",
        'spark_executor_memory = "huge"\n',
        "unknown_key = 1\n",
        "this is not toml = = \n",
    ],
)
def test_invalid_toml_raises_settings_error(tmp_path: Path, text: str) -> None:
    _toml(tmp_path, text)
    with pytest.raises(SettingsError):
        load_settings(home=tmp_path)


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_settings(home=tmp_path)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's ValidationError
        s.user = "someone else"  # type: ignore[misc]
    assert isinstance(s, Settings)
