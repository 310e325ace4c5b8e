"""The OpenAPI description of ``POST /invocations``: the body is read raw (MLflow's parsers
decide what it means), so FastAPI cannot infer its schema; this states it."""

from __future__ import annotations

from typing import Any

_ROW = {"type": "object", "additionalProperties": True}
_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error_code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["error_code", "message"],
            }
        }
    }
}

INVOCATIONS_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["dataframe_split"],
                            "properties": {
                                "dataframe_split": {
                                    "type": "object",
                                    "properties": {
                                        "columns": {"type": "array", "items": {"type": "string"}},
                                        "data": {"type": "array", "items": {"type": "array"}},
                                    },
                                }
                            },
                        },
                        {
                            "type": "object",
                            "required": ["dataframe_records"],
                            "properties": {"dataframe_records": {"type": "array", "items": _ROW}},
                        },
                        {
                            "type": "object",
                            "required": ["instances"],
                            "properties": {"instances": {"type": "array"}},
                        },
                        {"type": "object", "required": ["inputs"], "properties": {"inputs": {}}},
                    ]
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    },
    "responses": {
        "200": {
            "description": "Predictions, one per input row",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"predictions": {"type": "array"}},
                        "required": ["predictions"],
                    }
                }
            },
        },
        "400": {"description": "The input is malformed or does not match the signature", **_ERROR},
        "404": {"description": "An entity has no online features (policy '404')", **_ERROR},
        "413": {"description": "The body or the row count is too large", **_ERROR},
        "415": {"description": "Unsupported content type or charset", **_ERROR},
        "503": {"description": "No model loaded yet", **_ERROR},
    },
}


def describe_schema(schema: Any) -> list[dict[str, Any]] | None:
    """Input columns as ``[{"name", "type", "required"}]`` (None for tensor signatures)."""
    if schema is None or not getattr(schema, "has_input_names", lambda: False)():
        return None
    return [
        {"name": s.name, "type": str(getattr(s, "type", "")), "required": bool(s.required)}
        for s in schema.inputs
    ]
