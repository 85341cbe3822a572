"""Billing fixtures: a fresh Stripe emulator per test, the app served over real HTTP, the catalog bootstrapped.

The app talks to the emulator with the real stripe library, and the emulator delivers signed webhooks
to the app's live server, so every leg of the billing flow is real HTTP on 127.0.0.1.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from tests.live_stack import API_KEY, WEBHOOK_SECRET, BillingEnv, live_billing

__all__ = ["API_KEY", "WEBHOOK_SECRET", "BillingEnv"]

@pytest.fixture
def billing_overrides() -> dict[str, Any]:
    """Extra config for a billing test module (override this fixture)."""
    return {}


@pytest.fixture
def billing(database_url: str, billing_overrides: dict[str, Any], tmp_path: Path) -> Iterator[BillingEnv]:
    """A fresh emulator wired to a live server of the app, with the plan catalog bootstrapped."""
    with live_billing(database_url, tmp_path, billing_overrides) as env:
        yield env


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
def logged_in_billing(billing: BillingEnv, tenant: HttpApiClient) -> Any:
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
