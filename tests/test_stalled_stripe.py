"""Finding 3: a Stripe that stalls holds no database lock; the stalled event fails cleanly with its error kept."""
from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.billing.helpers import signature_header
from tests.conftest import signup_api_client
from webapp.extensions import db as _db
from webapp.models import BillingEvent, Entitlement

SECRET = "whsec_stall_test"
STALL_SECONDS = 30  # how long the fake Stripe sits on a request before hanging up, answering nothing
CLIENT_TIMEOUT = 2.0  # the gateway's timeout here (15 s by default), so the test needs no 30 s wait


class StallingStripe:
    """A TCP server that accepts Stripe API connections, answers nothing, and hangs up after STALL_SECONDS."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connected = threading.Event()
        self.open: list[socket.socket] = []
        self.timers: list[threading.Timer] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.open.append(conn)
            self.connected.set()
            hang_up = threading.Timer(STALL_SECONDS, conn.close)
            hang_up.daemon = True
            self.timers.append(hang_up)
            hang_up.start()

    def stop(self) -> None:
        self.sock.close()
        for timer in self.timers:
            timer.cancel()
        for conn in self.open:
            conn.close()


@pytest.fixture
def stalling_stripe() -> Iterator[StallingStripe]:
    server = StallingStripe()
    yield server
    server.stop()


@pytest.fixture
def app_overrides(stalling_stripe: StallingStripe) -> dict[str, Any]:
    return {"STRIPE_SECRET_KEY": "sk_test_stall", "STRIPE_API_BASE": stalling_stripe.url,
            "STRIPE_WEBHOOK_SECRET": SECRET, "STRIPE_TIMEOUT_SECONDS": CLIENT_TIMEOUT,
            "STRIPE_MAX_NETWORK_RETRIES": 0}


def subscription_event(tenant_id: str) -> dict[str, Any]:
    sub = {"id": "sub_stalled", "object": "subscription", "customer": "cus_stalled", "status": "active",
           "metadata": {"tenant_id": tenant_id}, "items": {"object": "list", "data": []}}
    return {"id": "evt_stalled", "object": "event", "type": "customer.subscription.updated",
            "created": int(time.time()), "data": {"object": sub}}


def test_a_stalled_stripe_leaves_other_tenants_writes_unaffected_and_fails_the_event_cleanly(
        app: Any, db: Any, stalling_stripe: StallingStripe) -> None:
    stalled_tenant = signup_api_client(app.test_client())
    other = signup_api_client(app.test_client())
    ent = db.session.get(Entitlement, stalled_tenant.tenant_id)
    ent.stripe_customer_id, ent.stripe_subscription_id = "cus_stalled", "sub_stalled"
    db.session.commit()
    payload = json.dumps(subscription_event(stalled_tenant.tenant_id)).encode()
    answers: list[int] = []

    def deliver() -> None:
        resp = app.test_client().post("/api/billing/webhook", data=payload,
                                      headers={"Stripe-Signature": signature_header(payload, SECRET)})
        answers.append(resp.status_code)

    webhook = threading.Thread(target=deliver)
    webhook.start()
    assert stalling_stripe.connected.wait(10)  # the handler is now waiting on Stripe
    writes = [other.post("/api/transactions", json={"transactions": [
                  {"id": "t1", "date": "2025-01-02", "description": "Coffee", "amount_cents": -450}]}),
              app.test_client().post("/api/auth/signup", json={"email": "late@example.com", "password": "testpass123",
                                                              "full_name": "Late"}),
              stalled_tenant.post("/api/companies", json={"name": "Second"})]
    still_stalled = webhook.is_alive()
    assert [w.status_code for w in writes[:2]] == [201, 201], [w.get_json() for w in writes]
    assert writes[2].status_code in (201, 402)  # the stalled tenant's own writes are not blocked either
    assert still_stalled, "the writes waited for the Stripe call to end"
    webhook.join(CLIENT_TIMEOUT + 10)
    assert answers == [503]  # BILLING_UNAVAILABLE: not 2xx, so Stripe retries it
    db.session.expire_all()
    row = db.session.scalars(select(BillingEvent).where(BillingEvent.event_id == "evt_stalled")).one()
    assert not row.processed and row.outcome == "failed" and row.processing_started_at is None
    assert "STRIPE_UNREACHABLE" in (row.last_error or "") and "did not answer" in (row.last_error or "")
    assert db.session.get(Entitlement, stalled_tenant.tenant_id).stripe_subscription_id == "sub_stalled"
    _db.session.remove()
