"""Turn stored objects into API responses: strip private fields, embed, expand.

Stored objects keep Stripe's shape plus private keys starting with "_". Resource modules
register a renderer for objects Stripe always embeds (subscription items, prices on items) and
extra expansions (checkout.session line_items).
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .errors import invalid

if TYPE_CHECKING:
    from .account import Account

# A renderer is called as fn(emu, stored, out) -> out, an expander as fn(emu, stored) -> value;
# each is written for core.Emulator, the one Account there is.
Renderer = TypeVar("Renderer", bound=Callable[..., dict[str, Any]])
Expander = TypeVar("Expander", bound=Callable[..., Any])

RENDERERS: dict[str, Callable[..., dict[str, Any]]] = {}
EXPANDERS: dict[tuple[str, str], Callable[..., Any]] = {}
MAX_EXPAND_DEPTH = 4


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    """Register how objects of `kind` are rendered (decorator)."""
    def register(fn: Renderer) -> Renderer:
        RENDERERS[kind] = fn
        return fn
    return register


def expander(kind: str, field: str) -> Callable[[Expander], Expander]:
    """Register a field that exists only when expanded, e.g. checkout.session line_items."""
    def register(fn: Expander) -> Expander:
        EXPANDERS[(kind, field)] = fn
        return fn
    return register


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without private ("_") keys."""
    return {k: _copy(v) for k, v in obj.items() if not k.startswith("_")}


def _copy(value: Any) -> Any:
    """A deep copy of a stored value: JSON data (the store saves objects as JSON), so only dicts
    and lists need copying; several times cheaper than copy.deepcopy, which every read pays."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value)


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def render(emu: "Account", obj: dict[str, Any], expand: list[str] | tuple[str, ...] = ()
           ) -> dict[str, Any]:
    """The API representation of a stored object, with `expand` paths expanded."""
    if obj.get("deleted"):
        return {"id": obj["id"], "object": obj["object"], "deleted": True}
    out = public(obj)
    hook = RENDERERS.get(obj.get("object", ""))
    if hook is not None:
        out = hook(emu, obj, out)
    for path in expand:
        segments = path.split(".")
        if len(segments) > MAX_EXPAND_DEPTH:
            raise invalid(f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                          f"Property: {path}", "expand")
        _expand(emu, out, segments, path)
    return out


def _expand(emu: "Account", node: Any, segments: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(emu, item, segments, path)
        return
    if not isinstance(node, dict):
        return
    field, rest = segments[0], segments[1:]
    extra = EXPANDERS.get((node.get("object", ""), field))
    if extra is not None:
        stored = emu.store.get(node.get("id", ""))
        if stored is not None:
            node[field] = extra(emu, stored)
    elif field not in node:
        raise invalid(f"This property cannot be expanded ({field}).", "expand")
    value = node[field]
    if isinstance(value, str):
        target = emu.store.get(value)
        if target is None:
            raise invalid(f"This property cannot be expanded ({field}).", "expand")
        node[field] = value = render(emu, target)
    elif value is not None and not isinstance(value, (dict, list)):
        raise invalid(f"This property cannot be expanded ({field}).", "expand")
    if rest and value is not None:
        _expand(emu, value, rest, path)
