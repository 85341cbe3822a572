"""POST /api/billing/webhook: verify on the raw bytes, store, then apply once (no login, no CSRF)."""
from __future__ import annotations

import logging
from collections import Counter

from flask import Blueprint, request

from webapp.billing import events, stripe_gateway
from webapp.errors import Conflict, WebhookRejected
from webapp.signals import webhook_delivered

log = logging.getLogger(__name__)

webhook_bp = Blueprint("billing_webhook", __name__, url_prefix="/api/billing")

# Rejected deliveries are not stored: a log line and this per-process counter are all they leave.
REJECTED: Counter[str] = Counter()


@webhook_bp.post("/webhook")
def receive() -> tuple[dict[str, str], int]:
    """Stripe's webhook endpoint: 200 once the event is processed (or was already), 400 if unverified."""
    raw = request.get_data()  # the exact bytes: the signature covers them
    try:
        event = stripe_gateway.gateway().verify_event(raw, request.headers.get("Stripe-Signature", ""))
    except WebhookRejected as exc:
        REJECTED[exc.code] += 1
        webhook_delivered.send(None, event_type="unverified", outcome="rejected")
        log.warning("webhook.rejected", extra={"reason": exc.code, "detail": exc.message,
                                               "rejected_total": sum(REJECTED.values())})
        raise
    try:
        outcome = events.record_and_process(event, payload=raw.decode())  # verify_event checked it is UTF-8
    except Exception as exc:
        webhook_delivered.send(None, event_type=event["type"],
                               outcome="in_progress" if isinstance(exc, Conflict) else "failed")
        raise
    webhook_delivered.send(None, event_type=event["type"], outcome=outcome.outcome)
    return {"received": event["id"], "outcome": outcome.outcome}, 200
