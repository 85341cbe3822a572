"""Reading and checking JSON request bodies: one place, one error shape."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webapp.errors import ValidationError
from webapp.input_policy import parsed_json_body

_TYPE_NAMES = {str: "a string", int: "an integer", bool: "a boolean", list: "a list", dict: "an object"}


@dataclass(frozen=True)
class Field:
    """One expected body field: its type, whether it must be present, and an optional max length."""

    type: type
    required: bool = True
    max_length: int | None = None


def json_object() -> dict[str, Any]:
    """Return the request body as a JSON object, whatever its declared Content-Type.

    The runbook's curl commands post JSON without a Content-Type header, so the body is parsed
    as JSON regardless; anything that is not a JSON object is a 400. The body is parsed once per
    request, under the input policy (webapp/input_policy.py).
    """
    data = parsed_json_body()  # the input policy's parse: depth limit, storable strings only
    if data is None:
        raise ValidationError("The request body must be a JSON object.", {"body": "is empty"})
    if not isinstance(data, dict):
        raise ValidationError("The request body must be a JSON object.",
                              {"body": f"must be a JSON object, got {type(data).__name__}"})
    return data


def parse(spec: dict[str, Field], data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check `data` (default: the JSON body) against `spec`; raise one ValidationError listing every problem."""
    data = json_object() if data is None else data
    problems: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name in data:
        if name not in spec:
            problems[name] = "is not a known field"
    for name, field in spec.items():
        if name not in data or data[name] is None:
            if field.required:
                problems[name] = "is required"
            continue
        value = data[name]
        # bool is an int subclass in Python; JSON true is never a valid integer here.
        if not isinstance(value, field.type) or (field.type is int and isinstance(value, bool)):
            problems[name] = f"must be {_TYPE_NAMES.get(field.type, field.type.__name__)}"
            continue
        if field.max_length is not None and len(value) > field.max_length:
            problems[name] = f"must be at most {field.max_length} characters"
            continue
        out[name] = value
    if problems:
        raise ValidationError("Some fields are missing or invalid.", problems)
    return out
