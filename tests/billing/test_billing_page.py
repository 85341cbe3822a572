"""/billing in every state a subscription goes through, drawn from the app's own tables.

Each test drives the real flow (Checkout, portal, test clocks) against the emulator; the page then
shows what Stripe has: the card, the invoices with their hosted links, the next invoice from the
preview, and one notice for a failed payment with the amount due and the next retry.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from tests.billing.helpers import advance_clock, card_form, http, put_on_test_clock, submit_form, subscribe
from tests.billing.test_lifecycle import portal_page
from webapp.billing import copies, stripe_gateway
from webapp.models import BillingInvoice


def billing_html(web, path: str = "/billing") -> str:
    resp = web.get(path)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def text_of(html: str, element_id: str) -> str:
    """The text of the element with this id (its nested elements included), whitespace collapsed."""
    start = re.search(rf'<(\w+)\b[^>]*\bid="{element_id}"[^>]*>', html)
    assert start, f"no #{element_id} on the page"
    tag, depth, pos = start.group(1), 1, start.end()
    for match in re.finditer(rf"<(/?){tag}\b[^>]*>", html[pos:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            inner = html[pos:pos + match.start()]
            return " ".join(unescape(re.sub(r"<[^>]+>", " ", inner)).split())
    raise AssertionError(f"#{element_id} is not closed")


def day(ts: int | float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def subscription(billing, tenant):
    return billing.stripe.v1.subscriptions.retrieve(billing.entitlement(tenant.tenant_id).stripe_subscription_id)


def test_trialing_shows_days_left_the_card_the_zero_trial_invoice_and_the_first_real_charge(
        billing, tenant, logged_in_billing):
    subscribe(billing, tenant, "starter")
    html = billing_html(logged_in_billing)
    sub = subscription(billing, tenant)
    assert "Trial · 14 days left" in text_of(html, "status-badge")
    assert text_of(html, "next-invoice") == f"$49.00 on {day(sub.trial_end)}"
    assert text_of(html, "card-on-file") == "Visa ending in 4242, expires 12/2034"
    assert text_of(html, "companies") == "1 of 1 (Starter)"
    invoice = billing.stripe.v1.invoices.retrieve(sub.latest_invoice)
    assert invoice.number in html and "$0.00" in html and f'href="{invoice.hosted_invoice_url}"' in html
    assert 'id="usage-chart"' in html and 'id="payment-problem"' not in html


def test_active_lists_paid_invoices_with_working_receipt_and_pdf_links_and_the_renewal(
        billing, tenant, logged_in_billing):
    billing.app.config["TRIAL_DAYS"] = 0
    subscribe(billing, tenant, "pro")
    html = billing_html(logged_in_billing)
    sub = subscription(billing, tenant)
    period_end = sub["items"].data[0].current_period_end
    assert text_of(html, "status-badge") == "Active"
    assert text_of(html, "next-invoice") == f"$149.00 on {day(period_end)}"
    row = copies.invoice_page(tenant.tenant_id, 1).invoices[0]
    assert (row.status, row.total, row.amount_paid) == ("paid", 14900, 14900)
    assert "$149.00" in html and "Receipt" in html and f'href="{row.invoice_pdf}"' in html
    assert http("GET", row.hosted_invoice_url)[0] == 200 and http("GET", row.invoice_pdf)[0] == 200


def test_canceling_says_when_it_ends_and_that_no_invoice_follows(billing, tenant, logged_in_billing):
    subscribe(billing, tenant, "starter")
    sub = subscription(billing, tenant)
    billing.stripe.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    billing.wait_for_webhooks()
    html = billing_html(logged_in_billing)
    assert text_of(html, "status-badge").startswith("Cancels")
    assert "Your plan is canceled and ends on" in html
    assert text_of(html, "next-invoice") == "None: the subscription ends."


def test_past_due_then_unpaid_show_one_notice_with_the_amount_attempts_and_next_retry(
        billing, tenant, logged_in_billing, db):
    billing.app.config["TRIAL_DAYS"] = 0
    clock = put_on_test_clock(billing, tenant, db)
    subscribe(billing, tenant, "pro")
    for name in ("Second Co", "Third Co"):
        assert tenant.post("/api/companies", json={"name": name}).status_code == 201
    url, html = portal_page(tenant)
    submit_form(html, url, "Update card", card_form("4000000000000341"))
    billing.wait_for_webhooks()
    advance_clock(billing, clock.id, days=31)

    html = billing_html(logged_in_billing)
    problem = text_of(html, "payment-problem")
    renewal = billing.stripe.v1.invoices.list({"subscription": subscription(billing, tenant).id}).data[0]
    assert "Your payment of $149.00 for Pro did not go through (1 failed attempt)." in problem
    assert f"Stripe tries the card again on {day(renewal.next_payment_attempt)}" in problem
    assert "posting to the ledger is paused" in problem
    assert text_of(html, "amount-due") == "$149.00"
    assert text_of(html, "companies") == "3 of 3 (Pro) — posting paused"
    assert html.count("did not go through") == 1 and "Your last payment failed" not in html
    assert "Renews" not in html and text_of(html, "status-badge") == "Payment failed"

    for days in (3, 5, 7):
        advance_clock(billing, clock.id, days=days)
    assert billing.entitlement(tenant.tenant_id).subscription_status == "unpaid"
    html = billing_html(logged_in_billing)
    problem = text_of(html, "payment-problem")
    assert "(4 failed attempts)" in problem and "Stripe has stopped retrying" in problem
    assert text_of(html, "amount-due") == "$149.00"


def test_canceled_says_it_ended_and_offers_the_plans(billing, tenant, logged_in_billing):
    subscribe(billing, tenant, "starter")
    billing.stripe.v1.subscriptions.cancel(subscription(billing, tenant).id)
    billing.wait_for_webhooks()
    html = billing_html(logged_in_billing)
    assert text_of(html, "status-badge") == "Canceled"
    assert "Your subscription has ended." in html and 'id="next-invoice"' not in html
    assert text_of(html, "companies") == "1 of 1 (Free)"


def test_a_page_view_reads_the_cached_preview_until_a_webhook_makes_it_stale(
        billing, tenant, logged_in_billing, monkeypatch):
    subscribe(billing, tenant, "starter")
    calls = []
    real = stripe_gateway.StripeGateway.preview_invoice
    monkeypatch.setattr(stripe_gateway.StripeGateway, "preview_invoice",
                        lambda self, *a, **kw: calls.append(a) or real(self, *a, **kw))
    billing_html(logged_in_billing)
    billing_html(logged_in_billing)
    assert len(calls) == 1  # the second view asked Stripe nothing
    sub = subscription(billing, tenant)
    billing.stripe.v1.subscriptions.update(sub.id, {"items": [
        {"id": sub["items"].data[0].id, "price": billing.catalog["pro"]["price_id"]}], "proration_behavior": "none"})
    billing.wait_for_webhooks()
    html = billing_html(logged_in_billing)
    assert len(calls) == 2 and "$149.00 on" in text_of(html, "next-invoice")


def invoice(n: int, status: str = "paid", created: int = 1767225600, **extra) -> dict:
    return {"id": f"in_{n:04d}", "object": "invoice", "status": status, "number": f"ABC-{n:04d}",
            "currency": "usd", "total": 4900, "amount_due": 4900, "amount_paid": 4900 if status == "paid" else 0,
            "amount_remaining": 0 if status == "paid" else 4900, "attempt_count": 1, "created": created + n,
            "hosted_invoice_url": f"https://invoice.example/i/{n}", "invoice_pdf": f"https://invoice.example/{n}.pdf",
            "parent": {"subscription_details": {"subscription": "sub_x"}}, **extra}


def test_invoices_are_paged_ten_at_a_time_newest_first_and_bad_page_numbers_clamp(
        billing, tenant, logged_in_billing, db):
    when = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(12):
        copies.record_invoice(tenant.tenant_id, invoice(n), when)
    db.session.commit()
    first = billing_html(logged_in_billing)
    assert "ABC-0011" in first and "ABC-0002" in first and "ABC-0001" not in first
    assert "Page 1 of 2 (12 invoices)" in first and 'rel="next"' in first
    second = billing_html(logged_in_billing, "/billing?invoices=2")
    assert "ABC-0001" in second and "ABC-0000" in second and "ABC-0011" not in second
    for bad in ("99", "0", "-1", "x", "²"):
        assert "Page" in billing_html(logged_in_billing, f"/billing?invoices={bad}")


def test_an_older_or_repeated_invoice_event_never_moves_the_copy_back(billing, tenant, db):
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    copies.record_invoice(tenant.tenant_id, invoice(1, "paid"), t0 + timedelta(seconds=5))
    copies.record_invoice(tenant.tenant_id, invoice(1, "open", attempt_count=1), t0)  # late, older
    copies.record_invoice(tenant.tenant_id, invoice(1, "open"), t0 + timedelta(seconds=5))  # same second
    copies.record_invoice(tenant.tenant_id, invoice(1, "paid"), t0 + timedelta(seconds=5))  # twice
    db.session.commit()
    rows = db.session.scalars(db.select(BillingInvoice)).all()
    assert [(r.status, r.amount_paid) for r in rows] == [("paid", 4900)]


@pytest.mark.parametrize("bad", [{"status": "weird"}, {"id": None}])
def test_an_invoice_payload_without_a_known_status_or_id_is_not_copied(billing, tenant, db, bad):
    copies.record_invoice(tenant.tenant_id, {**invoice(1), **bad}, datetime(2026, 1, 1, tzinfo=UTC))
    db.session.commit()
    assert db.session.scalars(db.select(BillingInvoice)).all() == []


def test_reconcile_restores_invoice_copies_whose_webhooks_were_lost(billing, tenant, db):
    billing.app.config["TRIAL_DAYS"] = 0
    subscribe(billing, tenant, "starter")
    db.session.execute(db.delete(BillingInvoice))
    db.session.commit()
    result = billing.app.test_cli_runner().invoke(args=["billing", "reconcile", tenant.tenant_id])
    assert result.exit_code == 0, result.output
    rows = copies.invoice_page(tenant.tenant_id, 1).invoices
    assert [(r.status, r.amount_paid) for r in rows] == [("paid", 4900)] and rows[0].hosted_invoice_url


def test_a_webhook_landing_while_stripe_is_asked_leaves_the_cached_preview_stale(
        billing, tenant, logged_in_billing, monkeypatch, db):
    from webapp.extensions import db as _db
    from webapp.models import BillingPreview

    subscribe(billing, tenant, "starter")
    billing_html(logged_in_billing)  # the cache exists
    db.session.execute(db.update(BillingPreview).values(stale=True))
    db.session.commit()
    real = stripe_gateway.StripeGateway.preview_invoice

    def webhook_meanwhile(self, *args, **kwargs):
        answer = real(self, *args, **kwargs)
        with _db.engine.begin() as conn:  # another worker applies an event while Stripe answers
            conn.execute(_db.update(BillingPreview).values(stale=True, marked_stale_at=datetime.now(UTC)))
        return answer

    monkeypatch.setattr(stripe_gateway.StripeGateway, "preview_invoice", webhook_meanwhile)
    billing_html(logged_in_billing)
    db.session.expire_all()
    assert db.session.scalar(db.select(BillingPreview.stale)) is True  # fetched again on the next view
