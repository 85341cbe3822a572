"""The gate around a unit of work: asked before the work, counted at its end, in its transaction.

`reserve_ids` (the API's @metered decorator and the pages call it before the work) reads the
entitlement and refuses at once what needs no counter: no paid plan, a failed payment, bulk without
bulk approve. The counter's conditional UPDATE — the statement whose row count decides the cap —
runs in `settle_pending`, which the services call right before their commit. So the usage row (on
PostgreSQL) or the write lock (on SQLite) is held only from that UPDATE to the COMMIT, not through
the whole proposal; and a request that fails before then counts nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import current_app, g, has_app_context

from webapp.auth.guards import READS_ENTITLEMENT, api_tenant_id
from webapp.metering.gate import Action, Charge, admit, check, settle
from webapp.payloads import json_object

P = ParamSpec("P")
R = TypeVar("R")
# (tenant_id, ids) → how many distinct things the ids name: what the gate counts.
Distinct = Callable[[str, list[str]], int]
_PENDING = "gate_pending_charge"


def distinct_strings(tenant_id: str, ids: list[str]) -> int:
    """Each different id is one thing (ids with one spelling each, such as journal entry ids)."""
    return len(set(ids))


def metered(action: Action, items: str,
            distinct: Distinct = distinct_strings) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Gate a Bearer route on the number of distinct things body[items] names; goes under @bearer_required.

    `distinct` counts them: two spellings of one transaction (ours and the client's id) are one.

    A body without a usable list is left to the view, which answers 400 for it. The plan's checks run
    before the view; the count joins the view's unit of work (its service calls settle_pending before
    committing), so a view that fails counts nothing. GATE_ENABLED=0 turns it off.
    """

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            ids = json_object().get(items) if current_app.config["GATE_ENABLED"] else None
            if not (isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids)):
                return view(*args, **kwargs)
            with reserved(api_tenant_id(), action, ids, distinct):
                return view(*args, **kwargs)

        setattr(wrapped, READS_ENTITLEMENT, True)  # @bearer_required reads it with the token
        return wrapped

    return decorate


@contextmanager
def reserved(tenant_id: str, action: Action, ids: list[str], distinct: Distinct = distinct_strings) -> Iterator[None]:
    """Ask the gate for the distinct things `ids` name, then run the block, whose service counts them
    (settle_pending) in its unit of work. The pages use it directly; GATE_ENABLED=0 turns it off.

    A block that ends without counting is a service that committed metered work uncounted: a bug,
    raised as one (tests run every metered path).
    """
    if not (current_app.config["GATE_ENABLED"] and ids):
        yield
        return
    setattr(g, _PENDING, check(tenant_id, action, distinct(tenant_id, ids)))
    try:
        yield
    except BaseException:
        g.pop(_PENDING, None)  # the work failed: nothing is counted (its transaction rolls back)
        raise
    if g.pop(_PENDING, None) is not None:
        raise RuntimeError(f"metered {action.value} work finished without settle_pending(): it was not counted")


def settle_pending() -> None:
    """Count what the gate let through for this request, now, in the caller's unit of work (just before
    its commit); the cap's PaywallError if it no longer fits. Nothing pending (gate off, a CLI): no-op."""
    charge: Charge | None = g.pop(_PENDING, None) if has_app_context() else None
    if charge is not None:
        settle(charge)


def admit_ids(tenant_id: str, action: Action, ids: list[str], distinct: Distinct = distinct_strings) -> None:
    """Ask the gate and count at once (for callers with no request around the work, such as the demo seed).

    Joins the caller's unit of work like settle_pending; GATE_ENABLED=0 turns it off.
    """
    if current_app.config["GATE_ENABLED"] and ids:
        admit(tenant_id, action, distinct(tenant_id, ids))
