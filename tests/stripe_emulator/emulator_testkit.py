"""Test helpers: plain-HTTP form posting, a webhook receiver, catalog factories."""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import stripe

SECRET = "whsec_test_receiver_secret"


@dataclass
class HttpAnswer:
    """A plain HTTP answer."""

    status: int
    headers: dict[str, str]
    body: str

    @property
    def location(self) -> str:
        """The redirect target, if any."""
        return self.headers.get("Location", "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def http(method: str, url: str, data: dict[str, str] | None = None,
         headers: dict[str, str] | None = None, body: bytes | None = None) -> HttpAnswer:
    """One real HTTP request (redirects not followed)."""
    payload = body if body is not None else (
        urllib.parse.urlencode(data).encode() if data is not None else None)
    req = urllib.request.Request(url, data=payload, method=method, headers=headers or {})
    try:
        with _OPENER.open(req, timeout=10) as resp:
            return HttpAnswer(resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, dict(exc.headers), exc.read().decode())


def get(url: str) -> HttpAnswer:
    """GET a page."""
    return http("GET", url)


def post_form(url: str, data: dict[str, str]) -> HttpAnswer:
    """POST a hosted page's form."""
    return http("POST", url, data,
                {"Content-Type": "application/x-www-form-urlencoded"})


def card(number: str, name: str = "Ada Lovelace") -> dict[str, str]:
    """The card form fields."""
    return {"card_number": number, "exp": "12/34", "cvc": "123", "name": name}


def form_action(html: str, aria_label: str) -> str:
    """The action of the form with this aria-label."""
    match = re.search(r'<form method="post" action="([^"]+)" aria-label="' + re.escape(aria_label),
                      html)
    assert match, f"no form {aria_label!r} in page"
    return match.group(1)


@dataclass
class Delivery:
    """One webhook request the receiver got."""

    body: str
    signature: str

    def event(self, secret: str = SECRET) -> dict[str, Any]:
        """The event, verified the way an app verifies it."""
        return stripe.Webhook.construct_event(self.body, self.signature, secret).to_dict()


@dataclass
class Receiver:
    """A tiny local webhook receiver; `statuses` are answered in order, then 200."""

    statuses: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    secret: str = SECRET
    delay: float = 0.0  # seconds to wait before answering
    gate: threading.Event | None = None  # when set up, every request hangs until it is set

    def __enter__(self) -> "Receiver":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                time.sleep(outer.delay)
                if outer.gate is not None:
                    outer.gate.wait(10)
                outer.deliveries.append(Delivery(body, self.headers.get("Stripe-Signature", "")))
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b'{"received": true}' if status < 300 else b"boom")

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        return f"http://127.0.0.1:{self._server.server_port}/webhook"

    def events(self) -> list[dict[str, Any]]:
        """Every verified event received, in arrival order."""
        return [d.event(self.secret) for d in self.deliveries]

    def types(self) -> list[str]:
        """The types of the events received, in arrival order."""
        return [json.loads(d.body)["type"] for d in self.deliveries]


def make_price(client: stripe.StripeClient, name: str = "Pro", amount: int = 2900,
               lookup_key: str | None = None, addon: bool = False) -> Any:
    """A monthly USD price with its product."""
    product = client.v1.products.create(params={"name": name,
                                                "metadata": {"addon": "true"} if addon else {}})
    params: dict[str, Any] = {"product": product.id, "currency": "usd", "unit_amount": amount,
                              "recurring": {"interval": "month"}}
    if lookup_key:
        params["lookup_key"] = lookup_key
    return client.v1.prices.create(params=params)
