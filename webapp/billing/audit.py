"""Entitlement snapshots and the audit trail of every change to them."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from webapp.clock import isoformat
from webapp.extensions import db
from webapp.models import BillingAudit, Entitlement

AUDITED_FIELDS = ("plan", "active", "subscription_status", "tx_cap", "bulk_approve", "included_companies",
                  "addon_companies", "stripe_customer_id", "stripe_subscription_id", "current_period_end",
                  "trial_end", "cancel_at_period_end")


# Why the current operator command changes things (--reason): every audit row it causes carries it, including
# the rows the Stripe sync writes on its behalf (replay, reconcile), without threading it through every call.
_reason: ContextVar[str | None] = ContextVar("audit_reason", default=None)


@contextmanager
def reason(text: str | None) -> Iterator[None]:
    """Audit rows written inside the block carry `text` as their reason."""
    token = _reason.set(text)
    try:
        yield
    finally:
        _reason.reset(token)


def write(tenant_id: str, action: str, actor: str, before: dict[str, Any], after: dict[str, Any],
          why: str | None = None, event_id: str | None = None) -> BillingAudit:
    """Add one audit row (part of the caller's unit of work): who, why, what before and after."""
    row = BillingAudit(tenant_id=tenant_id, action=action, actor=actor, event_id=event_id,
                       reason=why if why is not None else _reason.get(),
                       before_json=json.dumps(before, default=str), after_json=json.dumps(after, default=str))
    db.session.add(row)
    return row


def snapshot(ent: Entitlement) -> dict[str, Any]:
    """The audited fields of an entitlement, JSON-ready."""
    out: dict[str, Any] = {}
    for name in AUDITED_FIELDS:
        value = getattr(ent, name)
        out[name] = isoformat(value) if hasattr(value, "astimezone") else value
    return out


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Field → (before, after) for the fields that changed."""
    return {k: (before.get(k), after.get(k)) for k in after if before.get(k) != after.get(k)}


def record(ent: Entitlement, before: dict[str, Any], action: str, actor: str,
           event_id: str | None = None, always: bool = False) -> dict[str, tuple[Any, Any]]:
    """Add an audit row if the entitlement changed (or `always`, for manual actions); return the changes."""
    after = snapshot(ent)
    changes = diff(before, after)
    if changes or always:
        write(ent.tenant_id, action, actor, before, after, event_id=event_id)
    return changes
