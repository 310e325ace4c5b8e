"""``ws.models``: the MLflow model registry under catalog names, with aliases and lineage."""

from __future__ import annotations

import builtins
import datetime as dt
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from raylake.errors import (
    InvalidArgumentError,
    ModelNotFoundError,
    SignatureMissingError,
)
from raylake.governance.securables import Securable, SecurableType
from raylake.registry.lineage import record_model_version
from raylake.registry.logging import MODEL_ARTIFACT, log_model, tracking
from raylake.registry.names import parse_model_name, parse_schema_prefix
from raylake.registry.records import ModelComparison, ModelVersionInfo, RegisteredModelInfo
from raylake.registry.store import experiment_id

if TYPE_CHECKING:
    from raylake.catalog import CatalogStore
    from raylake.governance.guard import Guard

REGISTER_EXPERIMENT = "registry"
_RUN_ID = re.compile(r"[0-9a-f]{32}\Z")


@contextmanager
def _mlflow_errors(what: str, missing: tuple[str, ...] = ()) -> Iterator[None]:
    """Turn MLflow's generic exception into raylake's named errors.

    ``missing`` adds error codes that mean "not found" for this call (MLflow reports an
    unknown alias as an invalid parameter).
    """
    try:
        yield
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", *missing):
            raise ModelNotFoundError(f"{what} does not exist") from exc
        if exc.error_code == "INVALID_PARAMETER_VALUE":
            raise InvalidArgumentError(f"{what}: {exc.message}") from exc
        raise


class ModelRegistry:
    """Registered models named ``catalog.schema.model`` (``churn`` means ``main.models.churn``)."""

    def __init__(
        self,
        tracking_uri: str,
        store: CatalogStore,
        user: str,
        artifact_root: str | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.tracking_uri = tracking_uri
        self._artifact_root = artifact_root
        self._client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
        self._store = store
        self._user = user
        self._guard = guard  # privilege checks and audit (raylake.governance); None: none

    # -- registering ---------------------------------------------------------------------------
    def register(
        self,
        model: Any,
        name: str,
        *,
        input_example: Any = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        pip_requirements: builtins.list[str] | None = None,
    ) -> ModelVersionInfo:
        """Register a new version of ``name`` and return it.

        ``model`` is a sweep result (its best model), an MLflow run id (the model it logged), a
        model URI (``runs:/...``, ``models:/...``), or a trained object with ``predict`` — then
        ``input_example`` is required and the model is logged first. A model without a
        signature is refused with :class:`SignatureMissingError`.
        """
        full = str(parse_model_name(name))
        if self._guard is not None:  # before logging anything: a refusal leaves no trace
            self._guard.register_model(parse_model_name(full))
        uri = self._source_uri(model, full, input_example, pip_requirements)
        self._require_signature(uri)
        with tracking(self.tracking_uri), _mlflow_errors(f"model {uri}"):
            mv = mlflow.register_model(uri, full, tags=dict(tags or {}))
        if description:
            self._client.update_model_version(full, mv.version, description)
        # Models live in the catalog's namespace: make sure their schema exists there too.
        name_parts = parse_model_name(full)
        self._store.create_schema(name_parts.catalog, name_parts.schema, self._user)
        record_model_version(self._store, self._client, mv.run_id, full, int(mv.version))
        return self.get(full, int(mv.version))

    def _source_uri(
        self,
        model: Any,
        full: str,
        input_example: Any,
        pip_requirements: builtins.list[str] | None,
    ) -> str:
        if hasattr(model, "best_model_uri") and hasattr(model, "best_run_id"):  # SweepResult
            if model.best_model_uri is None:
                raise ModelNotFoundError(
                    "the sweep's trials kept no model: call raylake.training.report(metrics, "
                    "model=..., input_example=...) in the trainable"
                )
            return model.best_model_uri
        if isinstance(model, str):
            if _RUN_ID.match(model):
                return self._run_model_uri(model)
            if ":/" in model:
                return model
            raise InvalidArgumentError(f"{model!r} is neither an MLflow run id nor a model URI")
        if input_example is None:
            raise SignatureMissingError(
                "registering a model object needs input_example to infer its signature"
            )
        exp_id = experiment_id(self._client, REGISTER_EXPERIMENT, self._artifact_root)
        run = self._client.create_run(exp_id, run_name=f"register-{full}")
        uri = log_model(
            model, run.info.run_id, self.tracking_uri, input_example, True, pip_requirements
        )
        self._client.set_terminated(run.info.run_id)
        return uri

    def _run_model_uri(self, run_id: str) -> str:
        with _mlflow_errors(f"run {run_id}"):
            run = self._client.get_run(run_id)
        model_ids = [out.model_id for out in (run.outputs.model_outputs if run.outputs else [])]
        if len(model_ids) > 1:  # several models logged: prefer the one called "model"
            named = [
                m for m in model_ids if self._client.get_logged_model(m).name == MODEL_ARTIFACT
            ]
            model_ids = named or model_ids[-1:]
        if model_ids:
            return f"models:/{model_ids[0]}"
        return f"runs:/{run_id}/{MODEL_ARTIFACT}"  # MLflow 2 style: the model as run artifacts

    def _require_signature(self, uri: str) -> None:
        from mlflow.models import get_model_info

        with tracking(self.tracking_uri):
            try:
                info = get_model_info(uri)
            except (MlflowException, OSError) as exc:
                raise ModelNotFoundError(f"no model at {uri}: {exc}") from exc
        if info.signature is None:
            raise SignatureMissingError(
                f"the model at {uri} has no signature; log it with one "
                "(mlflow.models.infer_signature) or pass input_example"
            )

    # -- aliases -------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str) -> ModelVersionInfo:
        """Point ``alias`` (e.g. ``champion``) at ``version``; loads as ``models:/name@alias``."""
        full = str(parse_model_name(name))
        if not isinstance(alias, str) or not alias:
            raise InvalidArgumentError(f"alias must be a non-empty string, got {alias!r}")
        if self._guard is not None:
            self._guard.alter_model(parse_model_name(full), "set_alias")
        number = self._version_number(full, version)
        with _mlflow_errors(f"model {full} version {number}"):
            self._client.set_registered_model_alias(full, alias, str(number))
        return self.get(full, number)

    def delete_alias(self, name: str, alias: str) -> None:
        full = str(parse_model_name(name))
        if self._guard is not None:
            self._guard.alter_model(parse_model_name(full), "delete_alias")
        with _mlflow_errors(f"alias {alias!r} of model {full}", ("INVALID_PARAMETER_VALUE",)):
            self._client.get_model_version_by_alias(full, alias)
            self._client.delete_registered_model_alias(full, alias)

    # -- reading -------------------------------------------------------------------------------
    def get(self, name: str, alias_or_version: int | str | None = None) -> ModelVersionInfo:
        """One version: by number, by alias, or the latest when neither is given."""
        full = str(parse_model_name(name))
        return self._info(self._model_version(full, alias_or_version), detail=True)

    def uri(self, name: str, alias_or_version: int | str | None = None) -> str:
        full = str(parse_model_name(name))
        if isinstance(alias_or_version, str) and not alias_or_version.isdigit():
            self._model_version(full, alias_or_version)  # a clear error for a missing alias
            return f"models:/{full}@{alias_or_version}"
        return f"models:/{full}/{self._version_number(full, alias_or_version)}"

    def load(self, name: str, alias_or_version: int | str | None = None) -> Any:
        """The version as an MLflow pyfunc model (``predict(DataFrame)``)."""
        if self._guard is not None:
            self._guard.read_model(parse_model_name(name))
        uri = self.uri(name, alias_or_version)
        with tracking(self.tracking_uri):
            return mlflow.pyfunc.load_model(uri)

    def versions(self, name: str) -> builtins.list[ModelVersionInfo]:
        full = str(parse_model_name(name))
        self._registered(full)
        found = self._client.search_model_versions(f"name = '{full}'")
        return sorted((self._info(mv) for mv in found), key=lambda v: v.version)

    def list(
        self, schema: str | None = None, *, principal: str | None = None
    ) -> builtins.list[RegisteredModelInfo]:
        """Registered models, all or those in ``catalog.schema`` (``models`` = ``main.models``).
        With auth on, only those the acting user (or ``principal``) may see, as for tables."""
        prefix = parse_schema_prefix(schema) if schema is not None else ""
        seen = self._guard.visibility(principal) if self._guard is not None else None
        out: builtins.list[RegisteredModelInfo] = []
        token = None
        while True:
            page = self._client.search_registered_models(max_results=500, page_token=token)
            for rm in page:
                if rm.name.startswith(prefix) and (
                    seen is None or seen.sees(Securable(SecurableType.MODEL, rm.name))
                ):
                    out.append(_registered_info(rm))
            token = page.token
            if not token:
                break
        return sorted(out, key=lambda m: m.name)

    def compare(self, name: str, first: int | str, second: int | str) -> ModelComparison:
        """Params, metrics and signatures of two versions (numbers or aliases) side by side."""
        a, b = self.get(name, first), self.get(name, second)
        params = {k: (a.params.get(k), b.params.get(k)) for k in sorted({*a.params, *b.params})}
        metrics = {
            k: (a.metrics.get(k), b.metrics.get(k)) for k in sorted({*a.metrics, *b.metrics})
        }
        return ModelComparison(a.name, a, b, params, metrics, a.signature == b.signature)

    # -- helpers -------------------------------------------------------------------------------
    def _registered(self, full: str) -> Any:
        with _mlflow_errors(f"model {full}"):
            return self._client.get_registered_model(full)

    def _model_version(self, full: str, alias_or_version: int | str | None) -> ModelVersion:
        if isinstance(alias_or_version, str) and not alias_or_version.isdigit():
            self._registered(full)
            with _mlflow_errors(
                f"alias {alias_or_version!r} of model {full}", ("INVALID_PARAMETER_VALUE",)
            ):
                return self._client.get_model_version_by_alias(full, alias_or_version)
        number = self._version_number(full, alias_or_version)
        with _mlflow_errors(f"model {full} version {number}"):
            return self._client.get_model_version(full, str(number))

    def _version_number(self, full: str, version: int | str | None) -> int:
        if version is None:
            found = self._client.search_model_versions(f"name = '{full}'")
            if not found:
                self._registered(full)
                raise ModelNotFoundError(f"model {full} has no versions")
            return max(int(mv.version) for mv in found)
        if isinstance(version, str) and version.isdigit():
            return int(version)
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            return version
        if isinstance(version, str):  # an alias
            return int(self._model_version(full, version).version)
        raise InvalidArgumentError(f"version must be a positive integer, got {version!r}")

    def _info(self, mv: ModelVersion, detail: bool = False) -> ModelVersionInfo:
        params: dict[str, str] = {}
        metrics: dict[str, float] = {}
        signature = None
        if detail:
            if mv.run_id:
                try:
                    run = self._client.get_run(mv.run_id)
                    params, metrics = dict(run.data.params), dict(run.data.metrics)
                except MlflowException:
                    pass  # the run was deleted; the version still stands
            signature = self._signature(f"models:/{mv.name}/{mv.version}")
        return ModelVersionInfo(
            name=mv.name,
            version=int(mv.version),
            run_id=mv.run_id,
            source=mv.source,
            status=mv.status,
            aliases=sorted(mv.aliases or []),
            created_at=_time(mv.creation_timestamp),
            description=mv.description or None,
            tags=dict(mv.tags or {}),
            signature=signature,
            params=params,
            metrics=metrics,
        )

    def _signature(self, uri: str) -> dict[str, Any] | None:
        from mlflow.models import get_model_info

        try:
            with tracking(self.tracking_uri):
                sig = get_model_info(uri).signature
        except (MlflowException, OSError):
            return None
        return sig.to_dict() if sig is not None else None


def _registered_info(rm: Any) -> RegisteredModelInfo:
    versions = [int(v.version) for v in (rm.latest_versions or [])]
    return RegisteredModelInfo(
        name=rm.name,
        latest_version=max(versions) if versions else None,
        aliases={alias: int(v) for alias, v in (rm.aliases or {}).items()},
        description=rm.description or None,
        created_at=_time(rm.creation_timestamp),
        updated_at=_time(rm.last_updated_timestamp),
        tags=dict(rm.tags or {}),
    )


def _time(millis: int | None) -> dt.datetime:
    return dt.datetime.fromtimestamp((millis or 0) / 1000, dt.UTC)
