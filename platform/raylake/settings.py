"""Every raylake setting, its default and its ``RAYLAKE_*`` variable, in one place.

Precedence: keyword arguments > ``RAYLAKE_*`` environment > ``raylake.toml`` in the home >
defaults. Derived defaults (catalog URL, storage root, MLflow URI) live under the home, so
pointing ``RAYLAKE_HOME`` elsewhere moves a whole workspace.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

from raylake.errors import SettingsError

CONFIG_FILE_NAME = "raylake.toml"


def _default_home() -> Path:
    return Path(os.environ.get("RAYLAKE_HOME") or Path.home() / ".raylake").expanduser()


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


class Settings(BaseSettings):
    """raylake settings; every field can be set as ``RAYLAKE_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="RAYLAKE_", extra="forbid", frozen=True)

    home: Path = Field(default_factory=_default_home, description="workspace home folder")
    ray_address: str | None = Field(
        default=None, description="Ray cluster address; none starts a local Ray in-process"
    )
    ray_num_cpus: int | None = Field(default=None, ge=1, description="CPUs for a local Ray")
    catalog_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the catalog (default: SQLite in the home)"
    )
    storage_root: str | None = Field(
        default=None, description="where tables live: a folder or any URI delta-rs accepts"
    )
    storage_options: dict[str, str] = Field(
        default_factory=dict,
        description="delta-rs storage options for object stores (JSON in the environment)",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI (default: SQLite in the home)"
    )
    spark_executors: int = Field(default=1, ge=1, description="RayDP Spark executors")
    spark_executor_cores: int = Field(default=2, ge=1, description="cores per Spark executor")
    spark_executor_memory: str = Field(default="2g", description="memory per Spark executor")
    spark_shuffle_partitions: int = Field(
        default=4, ge=1, description="spark.sql.shuffle.partitions"
    )
    online_store_url: str | None = Field(
        default=None,
        description="Feast online store: none = SQLite in the home, or a redis://host:port/db URL",
    )
    http_host: str = Field(
        default="127.0.0.1", description="interface raylake's HTTP servers bind (loopback)"
    )
    feature_server_port: int = Field(
        default=6566, ge=0, le=65535, description="port of the feature retrieval API"
    )
    serve_port: int = Field(
        default=8000, ge=0, le=65535, description="port of Ray Serve model endpoints"
    )
    ui_port: int = Field(
        default=8080, ge=0, le=65535, description="port of the workspace web UI and /api"
    )
    user: str = Field(
        default_factory=_default_user,
        description="principal recorded as owner and in history",
    )
    auth: bool = Field(
        default=False,
        description="enforce grants and audit every access as `user` (on/off; on in clusters)",
    )

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("spark_executor_memory")
    @classmethod
    def _check_memory(cls, value: str) -> str:
        if not value[:-1].isdigit() or value[-1].lower() not in "kmgt":
            raise ValueError("use a number with a unit, e.g. '2g' or '512m'")
        return value

    @model_validator(mode="after")
    def _derive_locations(self) -> Settings:
        # Frozen model: set derived defaults through object.__setattr__ once, at validation.
        if self.catalog_url is None:
            object.__setattr__(self, "catalog_url", f"sqlite:///{self.home / 'catalog.db'}")
        if self.storage_root is None:
            object.__setattr__(self, "storage_root", str(self.home / "tables"))
        if self.mlflow_tracking_uri is None:
            object.__setattr__(self, "mlflow_tracking_uri", f"sqlite:///{self.home / 'mlflow.db'}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file lives in the home, which itself comes from kwargs or the environment.
        home = init_settings().get("home") or env_settings().get("home") or _default_home()
        toml = TomlConfigSettingsSource(
            settings_cls, toml_file=Path(home).expanduser() / CONFIG_FILE_NAME
        )
        return init_settings, env_settings, toml


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning validation problems into :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
    except SourceError as exc:  # e.g. RAYLAKE_STORAGE_OPTIONS that is not JSON
        raise SettingsError(f"invalid settings: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            f"invalid settings: {CONFIG_FILE_NAME} is not valid TOML: {exc}"
        ) from exc
