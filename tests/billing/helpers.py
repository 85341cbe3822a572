"""Helpers for billing tests: signing events like Stripe, posting them, paying on the hosted pages."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import urllib.parse
import urllib.request
from html import unescape
from typing import Any

from tests.billing.conftest import WEBHOOK_SECRET


def signature_header(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, computed as Stripe does."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def post_event(client: Any, event: dict[str, Any] | bytes, secret: str = WEBHOOK_SECRET,
               timestamp: int | None = None, header: str | None = None) -> Any:
    """Deliver an event to the app's webhook with a valid (or given) signature."""
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    sig = header if header is not None else signature_header(payload, secret, timestamp)
    return client.post("/api/billing/webhook", data=payload,
                       headers={"Stripe-Signature": sig, "Content-Type": "application/json"})


def http(method: str, url: str, data: dict[str, str] | None = None) -> tuple[int, str, str]:
    """A plain HTTP request that does not follow redirects: (status, final URL or Location, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with opener.open(req, timeout=15) as resp:
            return resp.status, resp.headers.get("Location") or url, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location") or url, exc.read().decode()


def form_action(html: str, page_url: str, button: str | None = None) -> str:
    """The action URL of the form on a page (the one containing `button`'s text, if given)."""
    forms = re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I)
    for form in forms:
        if button is None or button.lower() in form.lower():
            match = re.search(r'action="([^"]*)"', form)
            action = unescape(match.group(1)) if match else page_url
            return urllib.parse.urljoin(page_url, action)
    raise AssertionError(f"no form with {button!r} on {page_url}")


def card_form(number: str, name: str = "Test Payer") -> dict[str, str]:
    """The hosted Checkout/Portal card fields for a test card."""
    return {"card_number": number, "exp": "12/34", "cvc": "123", "name": name}


def form_by_label(html: str, page_url: str, aria_label: str) -> str:
    """The action URL of the form with this aria-label."""
    match = re.search(r'<form\b[^>]*aria-label="' + re.escape(aria_label) + r'"[^>]*>', html)
    if match is None:
        raise AssertionError(f"no form labelled {aria_label!r} on {page_url}")
    action = re.search(r'action="([^"]*)"', match.group(0))
    return urllib.parse.urljoin(page_url, unescape(action.group(1)) if action else page_url)


def pay_on_hosted_checkout(checkout_url: str, card_number: str) -> tuple[int, str, str]:
    """Open the emulator's Checkout page and pay with a test card, as a browser posting the form would."""
    status, _, html = http("GET", checkout_url)
    assert status == 200, html
    return http("POST", form_by_label(html, checkout_url, "Payment"), card_form(card_number))


def start_checkout(tenant: Any, plan: str = "starter", **extra: Any) -> dict[str, Any]:
    """POST /api/billing/checkout for a plan; returns {url, session_id}."""
    resp = tenant.post("/api/billing/checkout", json={"plan": plan, **extra})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def subscribe(billing: Any, tenant: Any, plan: str = "starter", card: str = "4242424242424242",
              **extra: Any) -> dict[str, Any]:
    """Check out and pay with a card on the hosted page, then let the webhooks land."""
    session = start_checkout(tenant, plan, **extra)
    status, location, body = pay_on_hosted_checkout(session["url"], card)
    assert status in (302, 303), body
    billing.wait_for_webhooks()
    return {**session, "redirect": location}


def put_on_test_clock(billing: Any, tenant: Any, db: Any) -> Any:
    """Give the tenant a Stripe customer that lives on a new test clock; returns the clock."""
    clock = billing.stripe.v1.test_helpers.test_clocks.create({"frozen_time": int(time.time())})
    customer = billing.stripe.v1.customers.create({"email": tenant.email, "test_clock": clock.id,
                                                   "metadata": {"tenant_id": tenant.tenant_id}})
    ent = billing.entitlement(tenant.tenant_id)
    ent.stripe_customer_id = customer.id
    db.session.commit()
    return clock


def advance_clock(billing: Any, clock_id: str, days: float) -> None:
    """Move a test clock forward and let the resulting webhooks land."""
    current = billing.stripe.v1.test_helpers.test_clocks.retrieve(clock_id)
    billing.stripe.v1.test_helpers.test_clocks.advance(
        clock_id, {"frozen_time": int(current.frozen_time + days * 86400)})
    billing.wait_for_webhooks()


def submit_form(html: str, page_url: str, aria_label: str, fields: dict[str, str] | None = None
                ) -> tuple[int, str, str]:
    """Post the form with this aria-label as a browser would: its hidden inputs plus `fields`."""
    match = re.search(r'<form\b[^>]*aria-label="' + re.escape(aria_label) + r'"[^>]*>(.*?)</form>', html, re.S)
    if match is None:
        raise AssertionError(f"no form labelled {aria_label!r} on {page_url}")
    data = {}
    for tag in re.findall(r"<input\b[^>]*>", match.group(1)):
        if 'type="hidden"' in tag:
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            if name:
                data[unescape(name.group(1))] = unescape(value.group(1)) if value else ""
    data.update(fields or {})
    return http("POST", form_by_label(html, page_url, aria_label), data)
