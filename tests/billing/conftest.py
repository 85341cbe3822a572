"""Billing fixtures: a fresh Stripe emulator per test, the app served over real HTTP, the catalog bootstrapped.

The app talks to the emulator with the real stripe library, and the emulator delivers signed webhooks
to the app's live server, so every leg of the billing flow is real HTTP on 127.0.0.1.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import stripe
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from stripe_emulator import EmulatorServer
from tests.conftest import ApiClient, running_app
from webapp.billing import bootstrap as bootstrap_service
from webapp.extensions import db as _db
from webapp.models import Entitlement

WEBHOOK_SECRET = "whsec_test_billing_suite"
API_KEY = "sk_test_billing_suite"


class LazyWSGI:
    """Lets the server start (and so know its port) before the app it serves is built."""

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        assert self.app is not None, "live server called before its app was set"
        return self.app(environ, start_response)


@dataclass
class BillingEnv:
    """The pieces of one billing test: app, its URL, the emulator and a Stripe client on it."""

    app: Flask
    url: str
    emulator: Any
    stripe: stripe.StripeClient
    catalog: dict[str, dict[str, Any]]

    def wait_for_webhooks(self, timeout: float = 10.0) -> None:
        """Block until the emulator has delivered every queued webhook."""
        self.emulator.wait_for_webhooks(timeout=timeout)

    def entitlement(self, tenant_id: str) -> Entitlement:
        """The tenant's entitlement as the database has it now."""
        _db.session.expire_all()
        ent = _db.session.get(Entitlement, tenant_id)
        assert ent is not None
        return ent


@pytest.fixture
def billing_overrides() -> dict[str, Any]:
    """Extra config for a billing test module (override this fixture)."""
    return {}


@pytest.fixture
def billing(database_url: str, billing_overrides: dict[str, Any], tmp_path: Any) -> Iterator[BillingEnv]:
    """A fresh emulator wired to a live server of the app, with the plan catalog bootstrapped."""
    lazy = LazyWSGI()
    server: BaseWSGIServer = make_server("127.0.0.1", 0, lazy, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    emulator = EmulatorServer(port=0, webhook_url=f"{url}/api/billing/webhook", webhook_secret=WEBHOOK_SECRET,
                              webhook_retry_schedule=(0.05, 0.1, 0.2))
    emulator.start()
    overrides = {"STRIPE_SECRET_KEY": API_KEY, "STRIPE_API_BASE": emulator.url,
                 "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                 "STRIPE_PRODUCTS_FILE": str(tmp_path / "stripe_products.json"), **billing_overrides}
    try:
        with running_app(database_url, overrides) as app:
            lazy.app = app
            catalog = bootstrap_service.bootstrap()
            client = stripe.StripeClient(API_KEY, base_addresses={"api": emulator.url})
            yield BillingEnv(app=app, url=url, emulator=emulator, stripe=client, catalog=catalog)
            emulator.wait_for_webhooks(timeout=5)
    finally:
        emulator.stop()
        server.shutdown()
        thread.join(timeout=5)


class HttpResponse:
    """A requests.Response with the Flask test-response methods the tests use."""

    def __init__(self, resp: requests.Response) -> None:
        self.raw, self.status_code, self.headers = resp, resp.status_code, resp.headers

    def get_json(self) -> Any:
        return self.raw.json()

    def get_data(self, as_text: bool = False) -> Any:
        return self.raw.text if as_text else self.raw.content


@dataclass
class HttpApiClient:
    """A tenant talking to the live app over real HTTP with its Bearer token (no shared session state)."""

    base: str
    token: str
    tenant_id: str
    user_id: str
    email: str

    def _send(self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> HttpResponse:
        auth = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        return HttpResponse(requests.request(method, self.base + path, headers=auth, allow_redirects=False,
                                             timeout=30, **kw))

    def get(self, path: str, headers: dict[str, str] | None = None) -> HttpResponse:
        return self._send("GET", path, headers)

    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
        return self._send("POST", path, headers, json=json)


_signups = {"n": 0}


def signup_over_http(base: str, email: str | None = None) -> HttpApiClient:
    """Sign a tenant up through POST /api/auth/signup on the live server."""
    _signups["n"] += 1
    email = email or f"billing{_signups['n']}@example.com"
    resp = requests.post(f"{base}/api/auth/signup", timeout=30,
                         json={"email": email, "password": "testpass123", "full_name": "Billing Tester"})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    return HttpApiClient(base, body["token"], body["tenant_id"], body["user_id"], email)


@pytest.fixture
def tenant(billing: BillingEnv) -> HttpApiClient:
    """A signed-up tenant of the billing app, talking to it over real HTTP."""
    return signup_over_http(billing.url)


@pytest.fixture
def logged_in_billing(billing: BillingEnv, tenant: ApiClient) -> Any:
    """A browser session (test client with cookie) of `tenant`, logged in through the form."""
    from tests.conftest import csrf_token_from

    web = billing.app.test_client()
    token = csrf_token_from(web.get("/login").get_data(as_text=True))
    resp = web.post("/login", data={"email": tenant.email, "password": "testpass123", "csrf_token": token})
    assert resp.status_code == 302
    return web


@pytest.fixture
def app(billing: BillingEnv) -> Flask:
    """In billing tests the app is the one served live to the emulator (so `db` and `client` use it)."""
    return billing.app
