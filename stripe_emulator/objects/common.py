"""Helpers shared by the object builders."""
from __future__ import annotations

from typing import Any

from ..errors import invalid

METADATA_MAX_KEYS = 50


def merge_metadata(current: dict[str, str] | None, update: Any) -> dict[str, str]:
    """Apply a metadata update: "" clears all, a key set to "" (None here) is removed."""
    if update is None:
        return {}
    merged = dict(current or {})
    for key, value in update.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            if len(key) > 40:
                raise invalid("Metadata keys can have a maximum length of 40 characters.",
                              f"metadata[{key}]")
            if len(str(value)) > 500:
                raise invalid("Metadata values can have a maximum length of 500 characters.",
                              f"metadata[{key}]")
            merged[key] = str(value)
    if len(merged) > METADATA_MAX_KEYS:
        raise invalid("You can only specify up to 50 metadata keys.", "metadata")
    return merged


def set_fields(obj: dict[str, Any], params: dict[str, Any], names: tuple[str, ...]) -> None:
    """Copy the given plain fields from params onto obj (metadata is merged)."""
    for name in names:
        if name in params:
            obj[name] = params[name]
    if "metadata" in params:
        obj["metadata"] = merge_metadata(obj.get("metadata"), params["metadata"])


def empty_address() -> dict[str, None]:
    """An address with every field null."""
    return {k: None for k in ("city", "country", "line1", "line2", "postal_code", "state")}
