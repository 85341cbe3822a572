"""List objects as Stripe pages them: limit, starting_after, ending_before, has_more, url."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import invalid, resource_missing
from .render import render

if TYPE_CHECKING:
    from .core import Emulator


def filter_range(objs: list[dict[str, Any]], field: str, cond: Any) -> list[dict[str, Any]]:
    """Keep objects whose integer `field` matches `cond` (an int, or {gt, gte, lt, lte})."""
    if cond is None:
        return objs
    if isinstance(cond, int):
        return [o for o in objs if o.get(field) == cond]
    checks = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
              "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    for op, bound in cond.items():
        if bound is None:
            continue
        objs = [o for o in objs if o.get(field) is not None and checks[op](o[field], bound)]
    return objs


def list_object(emu: "Emulator", objs: list[dict[str, Any]], params: dict[str, Any],
                url: str) -> dict[str, Any]:
    """One page of `objs` (already newest first) as a Stripe list object."""
    limit = params.get("limit")
    limit = 10 if limit is None else limit  # 1..100, checked with the parameters (schema.py)
    after, before = params.get("starting_after"), params.get("ending_before")
    if after and before:
        raise invalid("You may only specify one of these parameters: ending_before, "
                      "starting_after.", "ending_before", "parameters_exclusive")
    ids = [o["id"] for o in objs]
    if after:
        if after not in ids:
            raise resource_missing("object", after, "starting_after")
        rest = objs[ids.index(after) + 1:]
        page, has_more = rest[:limit], len(rest) > limit
    elif before:
        if before not in ids:
            raise resource_missing("object", before, "ending_before")
        head = objs[:ids.index(before)]
        page, has_more = head[-limit:], len(head) > limit
    else:
        page, has_more = objs[:limit], len(objs) > limit
    expand = [p[len("data."):] for p in params.get("expand") or [] if p.startswith("data.")]
    if any(not p.startswith("data.") for p in params.get("expand") or []):
        raise invalid("This property cannot be expanded "
                      f"({next(p for p in params['expand'] if not p.startswith('data.'))}).",
                      "expand")
    return {"object": "list", "data": [render(emu, o, expand) for o in page],
            "has_more": has_more, "url": url}
