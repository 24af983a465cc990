"""The schema of ``report.json`` (``schema.json`` beside this file) and a small validator.

The validator implements the subset of JSON Schema that ``schema.json`` uses —
``type`` (a name or a list of names), ``properties``, ``required``,
``additionalProperties`` (false or a schema), ``items``, ``enum``, ``minimum``
— so reading a report needs no ``jsonschema`` dependency. Every node of the
schema carries a ``description``: the schema is the documentation of the file.
"""
from __future__ import annotations

import json
import os

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.json")
SUPPORTED = {"type", "properties", "required", "additionalProperties", "items", "enum", "minimum", "description"}


class SchemaError(ValueError):
    """A report (or the schema itself) breaks a rule; the message names the JSON path."""


def load_schema(path: str = SCHEMA_PATH) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _errors(value, schema: dict, path: str, out: list[str], limit: int):
    if len(out) >= limit:
        return
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise SchemaError(f"schema at {path or '/'} uses unsupported keywords {sorted(unknown)}")
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        if not any(_TYPES[t](value) for t in types):
            out.append(f"{path or '/'}: expected {' or '.join(types)}, got {type(value).__name__} {_short(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path or '/'}: {_short(value)} is not one of {schema['enum']}")
    if "minimum" in schema and isinstance(value, (int, float)) and not isinstance(value, bool) and value < schema["minimum"]:
        out.append(f"{path or '/'}: {value} is below the minimum {schema['minimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{path}/{key}: required field missing")
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                _errors(v, props[key], f"{path}/{key}", out, limit)
            elif extra is False:
                out.append(f"{path}/{key}: field not documented in the schema")
            elif isinstance(extra, dict):
                _errors(v, extra, f"{path}/{key}", out, limit)
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            _errors(v, schema["items"], f"{path}/{i}", out, limit)


def errors(report, schema: dict | None = None, limit: int = 50) -> list[str]:
    """Every violation (up to ``limit``), each naming its JSON path."""
    out: list[str] = []
    _errors(report, load_schema() if schema is None else schema, "", out, limit)
    return out


def validate(report, schema: dict | None = None) -> None:
    """Raise :class:`SchemaError` listing the violations of ``report`` against the schema."""
    errs = errors(report, schema)
    if errs:
        raise SchemaError(f"report.json does not match reports/schema.json ({len(errs)} problem(s)):\n  " + "\n  ".join(errs))


def undocumented(schema: dict | None = None, path: str = "") -> list[str]:
    """Paths of schema nodes that have no description (should be none)."""
    schema = load_schema() if schema is None else schema
    missing = [] if schema.get("description") else [path or "/"]
    for key, sub in schema.get("properties", {}).items():
        missing += undocumented(sub, f"{path}/{key}")
    if isinstance(schema.get("additionalProperties"), dict):
        missing += undocumented(schema["additionalProperties"], f"{path}/*")
    if isinstance(schema.get("items"), dict):
        missing += undocumented(schema["items"], f"{path}/[]")
    return missing


def _short(v) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
