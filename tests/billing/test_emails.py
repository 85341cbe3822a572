"""Billing emails over SMTP, read back from a local sink: once per cause, whatever Stripe redelivers."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from tests.billing.conftest import API_KEY
from tests.billing.helpers import advance_clock, card_form, post_event, put_on_test_clock, submit_form, subscribe
from tests.billing.test_lifecycle import portal_page
from tests.conftest import csrf_token_from
from webapp.models import BillingEmail
from webapp.ops import mail_sink


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port, directory = free_port(), tmp_path / "mail"
    state = {"port": port, "dir": directory, "controller": mail_sink.start_sink(directory, port=port)}
    yield state
    state["controller"].stop()


@pytest.fixture
def billing_overrides(sink: dict[str, Any]) -> dict[str, Any]:
    return {"MAIL_URL": f"smtp://127.0.0.1:{sink['port']}", "MAIL_SINK_DIR": str(sink["dir"])}


def mails(sink: dict[str, Any]) -> list[mail_sink.ReceivedMail]:
    return mail_sink.received(sink["dir"])


def subjects(sink: dict[str, Any]) -> list[str]:
    return sorted(m.subject for m in mails(sink))


def events_of(billing, etype: str) -> list[dict[str, Any]]:
    """The emulator's events of a type as plain JSON, exactly as a webhook delivers them."""
    resp = requests.get(f"{billing.emulator.url}/v1/events", params={"type": etype, "limit": 100},
                        headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)
    assert resp.status_code == 200
    return list(resp.json()["data"])


def redeliver(billing, etype: str) -> None:
    """Deliver every event of this type again, signed as Stripe signs them (newest first: out of order)."""
    client = billing.app.test_client()
    for event in events_of(billing, etype):
        assert post_event(client, event).status_code == 200


def test_a_failed_payment_then_its_recovery_send_one_email_each_however_often_stripe_delivers(
        billing, tenant, db, sink):
    billing.app.config["TRIAL_DAYS"] = 0
    clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant, "starter")
    assert subjects(sink) == [next(s for s in subjects(sink) if s.startswith("Receipt"))]  # the first charge
    receipt = mails(sink)[0]
    assert receipt.to == tenant.email and "$49.00" in receipt.subject and "/i/" in receipt.body
    url, html = portal_page(tenant)
    submit_form(html, url, "Update card", card_form("4000000000000341"))
    billing.wait_for_webhooks()
    advance_clock(billing, clock.id, days=31)
    failed = [m for m in mails(sink) if "did not go through" in m.subject]
    assert len(failed) == 1 and "$49.00" in failed[0].subject
    assert "/billing/portal" in failed[0].body and "Stripe will try the card again on" in failed[0].body
    redeliver(billing, "invoice.payment_failed")
    assert len([m for m in mails(sink) if "did not go through" in m.subject]) == 1

    advance_clock(billing, clock.id, days=3)  # the automatic retry fails too: a new attempt, a new email
    assert len([m for m in mails(sink) if "did not go through" in m.subject]) == 2
    url, html = portal_page(tenant)
    submit_form(html, url, "Update card", card_form("4242424242424242"))
    billing.wait_for_webhooks()
    redeliver(billing, "invoice.payment_failed")  # late copies of the failures: the invoice is paid now
    redeliver(billing, "invoice.paid")
    titles = subjects(sink)
    assert len([t for t in titles if "did not go through" in t]) == 2
    assert len([t for t in titles if t.startswith("Payment received")]) == 1
    assert len([t for t in titles if t.startswith("Receipt")]) == 2
    assert db.session.scalar(select(BillingEmail).where(BillingEmail.status != "sent")) is None


def test_trial_ending_cancellation_scheduled_and_done_are_each_sent_once(
        billing, tenant, db, sink, logged_in_billing):
    clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant, "pro")
    advance_clock(billing, clock.id, days=11.5)
    assert [s for s in subjects(sink) if "trial ends" in s] == [subjects(sink)[0]]
    token = csrf_token_from(logged_in_billing.get("/billing").get_data(as_text=True))
    assert logged_in_billing.post("/billing/cancel", data={"csrf_token": token}).status_code == 303
    billing.wait_for_webhooks()
    redeliver(billing, "customer.subscription.updated")
    redeliver(billing, "customer.subscription.trial_will_end")
    scheduled = [m for m in mails(sink) if "plan ends on" in m.subject]
    assert len(scheduled) == 1 and "Resume the plan" in scheduled[0].body
    advance_clock(billing, clock.id, days=3)
    redeliver(billing, "customer.subscription.deleted")
    ended = [m for m in mails(sink) if "has ended" in m.subject]
    assert len(ended) == 1 and "Pro plan has ended" in ended[0].subject
    assert len([s for s in subjects(sink) if "trial ends" in s]) == 1


def test_with_the_smtp_server_down_the_event_is_applied_and_the_email_waits_for_send_emails(
        billing, tenant, db, sink):
    billing.app.config["TRIAL_DAYS"] = 0
    sink["controller"].stop()
    subscribe(billing, tenant, "starter")
    assert billing.entitlement(tenant.tenant_id).active is True
    waiting = db.session.scalars(select(BillingEmail)).all()
    assert [(e.kind, e.status) for e in waiting] == [("receipt", "failed")]
    sink["controller"] = mail_sink.start_sink(sink["dir"], port=sink["port"])
    result = billing.app.test_cli_runner().invoke(args=["billing", "send-emails"])
    assert result.exit_code == 0 and "1 email(s) sent" in result.output
    assert [m.subject.startswith("Receipt") for m in mails(sink)] == [True]
    again = billing.app.test_cli_runner().invoke(args=["billing", "send-emails"])
    assert "0 email(s) sent" in again.output and len(mails(sink)) == 1


def test_the_dev_mail_page_lists_what_the_sink_received_and_is_absent_without_a_sink(
        billing, tenant, sink, logged_in_billing):
    billing.app.config["TRIAL_DAYS"] = 0
    subscribe(billing, tenant, "starter")
    page = logged_in_billing.get("/dev/mail").get_data(as_text=True)
    assert "Mail sink" in page and "Receipt" in page and tenant.email in page
    billing.app.config["MAIL_SINK_DIR"] = None
    assert logged_in_billing.get("/dev/mail").status_code == 404
