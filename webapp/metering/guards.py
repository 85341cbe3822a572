"""The gate as a route decorator: it counts the ids a request names and asks the gate before the view runs."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import current_app

from webapp.auth.guards import api_tenant_id
from webapp.metering.gate import Action, admit
from webapp.payloads import json_object

P = ParamSpec("P")
R = TypeVar("R")
# (tenant_id, ids) → how many distinct things the ids name: what the gate counts.
Distinct = Callable[[str, list[str]], int]


def distinct_strings(tenant_id: str, ids: list[str]) -> int:
    """Each different id is one thing (ids with one spelling each, such as journal entry ids)."""
    return len(set(ids))


def metered(action: Action, items: str,
            distinct: Distinct = distinct_strings) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Gate a Bearer route on the number of distinct things body[items] names; goes under @bearer_required.

    `distinct` counts them: two spellings of one transaction (ours and the client's id) are one.

    A body without a usable list is left to the view, which answers 400 for it; the gate's counting
    joins the view's unit of work, so a view that fails counts nothing. GATE_ENABLED=0 turns it off.
    """

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if current_app.config["GATE_ENABLED"]:
                ids = json_object().get(items)
                if isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids):
                    admit_ids(api_tenant_id(), action, ids, distinct)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def admit_ids(tenant_id: str, action: Action, ids: list[str], distinct: Distinct = distinct_strings) -> None:
    """Ask the gate for the distinct things a request names: @metered for the API, the page views directly.

    Counting only reads what the ids name; the gate's counter change stays one conditional UPDATE.
    Like the decorator, it joins the caller's unit of work; GATE_ENABLED=0 turns it off.
    """
    if current_app.config["GATE_ENABLED"] and ids:
        admit(tenant_id, action, distinct(tenant_id, ids))
