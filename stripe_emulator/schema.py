"""Validate and coerce request parameters against the stripe library's own parameter types.

`stripe.params.*` TypedDicts are generated from Stripe's OpenAPI spec; they say exactly which
parameters each endpoint takes and of what type. They are read lazily (first use), never at
import time. Validation raises Stripe-shaped 400s: parameter_unknown, parameter_missing,
parameter_invalid_integer, ...
"""
from __future__ import annotations

import importlib
import re
import sys
import typing
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from .errors import invalid, missing_param, unknown_param
from .forms import display, is_index
from .timeutil import MAX_TIMESTAMP

REQUEST_OPTION_KEYS = frozenset({"api_key", "stripe_version", "stripe_account", "stripe_context",
                                 "max_network_retries", "idempotency_key", "content_type",
                                 "headers"})
_INT = re.compile(r"-?[0-9]{1,20}\Z")  # ASCII digits only; more than 20 is never an integer here
UNSET = None  # what an empty string ("unset this") becomes after coercion
# Numbers Stripe range-checks, by parameter name (the last bracket segment). Every other
# integer and decimal must be non-negative (SIGNED ones excepted) and at most MAX_TIMESTAMP,
# which is beyond any amount or count Stripe takes and is the last second of the year 9999.
NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "limit": (1, 100),                 # list pages
    "exp_month": (1, 12),
    "interval_count": (1, 365),        # at most a year of intervals; objects/catalog.py checks
    "trial_period_days": (0, 730),
    "unit_amount": (0, 99_999_999),    # 999,999.99 in a two-decimal currency
    "unit_amount_decimal": (0, 99_999_999),
}
SIGNED = frozenset({"balance", "amount"})  # a customer's credit balance, invoice item amounts


@dataclass
class Node:
    """One parameter type: kind is str/int/float/bool/decimal/any/object/list/map/union."""

    kind: str
    enum: tuple[str, ...] = ()
    fields: dict[str, "Node"] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    item: "Node | None" = None
    options: tuple["Node", ...] = ()
    allow_empty: bool = False
    ref: Any = None  # TypedDict class for a not yet expanded object node


@lru_cache(maxsize=None)
def params_schema(name: str) -> Node:
    """The schema of `stripe.params.<name>`, e.g. "ProductCreateParams", "checkout.SessionCreateParams"."""
    module_path, _, cls_name = name.rpartition(".")
    module = importlib.import_module("stripe.params" + (f".{module_path}" if module_path else ""))
    return _object_node(getattr(module, cls_name))


def _object_node(cls: Any) -> Node:
    return Node("object", ref=cls)


def _fields(node: Node) -> None:
    """Expand an object node's fields on first use (nested types can be large and recursive)."""
    if node.ref is None:
        return
    cls, node.ref = node.ref, None
    module = sys.modules[cls.__module__]
    for key, ann in cls.__annotations__.items():
        if key in REQUEST_OPTION_KEYS:
            continue
        if isinstance(ann, str):
            ann = typing.ForwardRef(ann)
        hint = typing._eval_type(ann, vars(module), None)  # type: ignore[attr-defined]
        node.fields[key] = _node_for(hint)
    node.required = frozenset(cls.__required_keys__) - REQUEST_OPTION_KEYS


def _node_for(hint: Any) -> Node:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.NotRequired, typing.Required):
        return _node_for(args[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType")):
        return _union(args)
    if origin is typing.Literal:
        return Node("str", enum=tuple(a for a in args if a != ""), allow_empty="" in args)
    if origin in (list, typing.List):
        return Node("list", item=_node_for(args[0]))
    if origin in (dict, typing.Dict):
        return Node("map", item=_node_for(args[1]))
    if isinstance(hint, type) and hasattr(hint, "__required_keys__"):
        return _object_node(hint)
    simple = {str: "str", int: "int", float: "float", bool: "bool", Decimal: "decimal"}
    if hint in simple:
        return Node(simple[hint])
    if origin is not None and getattr(origin, "__name__", "") == "UntypedStripeObject":
        return Node("map", item=_node_for(args[0]) if args else Node("any"))
    return Node("any")


def _union(args: tuple[Any, ...]) -> Node:
    nodes = [_node_for(a) for a in args]
    allow_empty = any(n.allow_empty for n in nodes)
    enums = tuple(v for n in nodes if n.kind == "str" for v in n.enum)
    # `Literal[...] | str` is the SDK's forward compatibility; the API itself checks the enum.
    options = [n for n in nodes if not (n.kind == "str" and (n.enum or n.allow_empty))]
    if enums:
        options = [n for n in options if n.kind != "str"] + [Node("str", enum=enums)]
    if len(options) == 1:
        only = options[0]
        only.allow_empty = only.allow_empty or allow_empty
        return only
    return Node("union", options=tuple(options), allow_empty=allow_empty)


def validate(name: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Check `raw` (decoded form) against stripe.params.<name>; return coerced parameters."""
    return _coerce(params_schema(name), raw, [])


def _coerce(node: Node, value: Any, path: list[str]) -> Any:
    where = display(path)
    if value == "" and node.kind != "str":
        if node.allow_empty or node.kind in ("map", "any"):
            return UNSET
        raise invalid(f"Invalid {_kind_word(node)}: an empty string is not allowed here", where,
                      "parameter_invalid_empty")
    if node.kind == "any":
        return _plain(value)
    if node.kind == "object":
        return _coerce_object(node, value, path)
    if node.kind == "union":
        return _coerce_union(node, value, path)
    if node.kind == "list":
        return _coerce_list(node, value, path)
    if node.kind == "map":
        if not isinstance(value, dict):
            raise invalid(f"Invalid object: {where} must be a hash", where)
        return {k: _coerce(node.item or Node("any"), v, [*path, k]) for k, v in value.items()}
    if isinstance(value, dict):
        raise invalid(f"Invalid {_kind_word(node)}: {where} must be a {_kind_word(node)}, "
                      "not a hash", where, _invalid_code(node))
    return _coerce_scalar(node, value, path)


def _coerce_object(node: Node, value: Any, path: list[str]) -> dict[str, Any]:
    where = display(path)
    if not isinstance(value, dict):
        raise invalid(f"Invalid object: {where} must be a hash", where)
    _fields(node)
    out: dict[str, Any] = {}
    for key, sub in value.items():
        if key not in node.fields:
            raise unknown_param(display([*path, key]))
        out[key] = _coerce(node.fields[key], sub, [*path, key])
    for key in sorted(node.required):
        if key not in value:
            raise missing_param(display([*path, key]))
    return out


def _coerce_list(node: Node, value: Any, path: list[str]) -> list[Any]:
    where = display(path)
    if not isinstance(value, dict) or not all(is_index(k) for k in value):
        raise invalid(f"Invalid array: {where} must be an array", where)
    item = node.item or Node("any")
    return [_coerce(item, value[k], [*path, k]) for k in sorted(value, key=int)]


def _coerce_union(node: Node, value: Any, path: list[str]) -> Any:
    errors = []
    containers = ("object", "list", "map", "any")
    if isinstance(value, dict):
        order = sorted(node.options, key=lambda n: n.kind not in containers)
    else:
        order = sorted(node.options, key=lambda n: (n.kind in containers, n.kind == "str"))
    for option in order:
        try:
            return _coerce(option, value, path)
        except Exception as exc:  # noqa: BLE001 - try the next alternative, report the first
            errors.append(exc)
    raise errors[0]


def _coerce_scalar(node: Node, value: str, path: list[str]) -> Any:
    where = display(path)
    if node.kind == "int":
        if not _INT.match(value):
            raise invalid(f"Invalid integer: {_shown(value)}", where, "parameter_invalid_integer")
        return _in_range(int(value), path, "parameter_invalid_integer")
    if node.kind == "bool":
        if value not in ("true", "false"):
            raise invalid(f"Invalid boolean: {_shown(value)}", where, "parameter_invalid_boolean")
        return value == "true"
    if node.kind in ("float", "decimal"):
        try:
            number = Decimal(value) if len(value) <= 40 else Decimal("NaN")
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite():
            raise invalid(f"Invalid decimal: {_shown(value)}", where, "parameter_invalid_decimal")
        number = _in_range(number, path, "parameter_invalid_decimal")
        return float(number) if node.kind == "float" else number
    if node.enum and value not in node.enum:
        choices = _choices(node.enum)
        raise invalid(f"Invalid {where}: must be one of {choices}", where)
    if value == "" and node.allow_empty:
        return UNSET
    return value


def _in_range(number: Any, path: list[str], code: str) -> Any:
    """`number` if it is within the parameter's range, else Stripe's 400 for it."""
    name = path[-1] if path else ""
    low, high = NUMBER_RANGES.get(name, (-MAX_TIMESTAMP if name in SIGNED else 0, MAX_TIMESTAMP))
    if number < low:
        raise invalid(f"This value must be greater than or equal to {low}.", display(path), code)
    if number > high:
        raise invalid(f"This value must be less than or equal to {high}.", display(path), code)
    return number


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:40] + "..."


def _choices(enum: tuple[str, ...]) -> str:
    if len(enum) == 1:
        return enum[0]
    if len(enum) > 12:
        return ", ".join(enum[:12]) + f", ... ({len(enum)} values)"
    return ", ".join(enum[:-1]) + f", or {enum[-1]}"


def _kind_word(node: Node) -> str:
    return {"int": "integer", "bool": "boolean", "list": "array", "object": "object",
            "map": "object", "float": "decimal", "decimal": "decimal"}.get(node.kind, "string")


def _invalid_code(node: Node) -> str | None:
    return {"int": "parameter_invalid_integer", "bool": "parameter_invalid_boolean"}.get(node.kind)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(is_index(k) for k in value):
            return [_plain(value[k]) for k in sorted(value, key=int)]
        return {k: _plain(v) for k, v in value.items()}
    return value
