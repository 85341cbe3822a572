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
            return resp.status, resp.headers.get("Location") or url, resp.read().decode()
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
