"""Property-based fuzz (issue 11): every /api route and every form, driven with generated junk.

Whatever arrives — NUL, lone surrogates, huge numbers, wrong types, deep nesting, stray fields, junk
ids in the path and query — the app answers below 500, logs no traceback, and a refused request (4xx)
changes no row. It runs against the live billing stack (the Stripe emulator behind Checkout and the
Portal), on SQLite and PostgreSQL, with a bounded, derandomised number of examples so it stays cheap.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import g
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import csrf_token_from
from webapp.extensions import db as _db

# Examples per route (every route gets its own run): ~170 requests per backend in all.
API_EXAMPLES = 10
FORM_EXAMPLES = 6
FUZZ = settings(max_examples=API_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

NASTY = ["\x00", "a\x00b", "\ud800", "x\udfffy", "\u202e", "../../etc/passwd", "' OR 1=1 --", "%00", "\\",
         "//evil.example", "9" * 40, "-1", "0", "1e309", "", " ", "\t\n", "ü" * 300, "a" * 5000]
FORM_NASTY = [s for s in NASTY if "\ud800" not in s and "\udfff" not in s]

any_text = st.one_of(st.sampled_from(NASTY), st.text(st.characters(exclude_categories=()), max_size=40))
# Forms and URLs carry UTF-8 bytes: a lone surrogate cannot be sent in them (the policy's JSON case covers it).
form_text = st.one_of(st.sampled_from(FORM_NASTY), st.text(st.characters(exclude_categories=("Cs",)), max_size=40))
numbers = st.one_of(st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False))
scalars = st.one_of(st.none(), st.booleans(), numbers, any_text)
junk_json = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(any_text, inner, max_size=3)),
                         max_leaves=6)

API_FIELDS: dict[str, list[str]] = {
    "/api/auth/signup": ["email", "password", "full_name"],
    "/api/auth/login": ["email", "password"],
    "/api/billing/checkout": ["plan", "price_id", "addon_companies"],
    "/api/companies": ["name"],
    "/api/transactions": ["company_id", "transactions"],
    "/api/post/propose": ["txn_ids"],
    "/api/post/commit": ["je_ids"],
    "/api/post/entries/{id}/account": ["account_code"],
}
API_GETS = ["/api/auth/me", "/api/billing/status", "/api/billing/portal", "/api/companies", "/api/ledger",
            "/api/trial-balance", "/api/usage"]
QUERY_NAMES = ["company_id", "company", "limit", "offset", "as_of", "since", "activating", "session_id", "next",
               "checkout", "txn_page", "je_page", "ledger_page", "invoices", "done", "expired"]
TXN_FIELDS = ["id", "date", "description", "amount", "amount_cents", "counterparty", "extra"]
PLANS = ["free", "starter", "pro", "firm", "firm_addon"]

FORMS: dict[str, list[str]] = {
    "/signup": ["email", "password", "full_name", "company_name"],
    "/login": ["email", "password", "remember"],
    "/account/tokens": ["name"],
    "/account/tokens/{id}/revoke": [],
    "/account/password": ["current_password", "new_password"],
    "/app/companies": ["new_company_name", "company"],
    "/app/companies/{co}/rename": ["company_name"],
    "/app/companies/{co}/archive": [],
    "/app/companies/{co}/restore": [],
    "/app/companies/{co}/import/preview": ["csv_text", "statement", "source", "date_format", "amount_sign"],
    "/app/companies/{co}/import": ["csv_text", "statement", "source", "date_format", "amount_sign"],
    "/app/companies/{co}/propose": ["txn_id", "txn_ids"],
    "/app/companies/{co}/commit": ["je_id", "je_ids", "account_{je}"],
    "/app/companies/{co}/entries/{id}/account": ["account_{id}"],
    "/billing/checkout/{plan}": ["addon_companies"],
    "/billing/portal": ["next"],
    "/billing/change/{plan}": ["proration_date"],
    "/billing/cancel": [],
    "/billing/resume": [],
}
PAGES = ["/", "/app", "/app/companies/{co}", "/billing", "/billing/plans", "/billing/success", "/login", "/signup",
         "/account", "/healthz", "/billing/change/pro", "/billing/cancel", "/billing/resume", "/dev/mail"]


@st.composite
def queries(draw: st.DrawFn, text: st.SearchStrategy[str] = form_text) -> str:
    pairs = draw(st.lists(st.tuples(st.one_of(st.sampled_from(QUERY_NAMES), text), text), max_size=3))
    return ("?" + urlencode(pairs)) if pairs else ""


def path_id(draw: st.DrawFn, known: list[str]) -> str:
    value = draw(st.one_of(st.sampled_from(known), form_text.filter(lambda s: s not in ("", ".", ".."))))
    return quote(value, safe="")


@st.composite
def api_requests(draw: st.DrawFn, ids: dict[str, list[str]], template: str) -> dict[str, Any]:
    if template == "GET":
        path = draw(st.sampled_from(API_GETS))
        return {"method": "GET", "url": path + draw(queries()), "data": None}
    path = template.replace("{id}", path_id(draw, ids["je"]))
    shape = draw(st.sampled_from(["fields", "fields", "fields", "junk", "raw", "deep"]))
    if shape == "fields":
        fields = draw(st.lists(st.sampled_from(API_FIELDS[template] + ["unexpected"]), unique=True, max_size=4))
        body: dict[str, Any] = {}
        for name in fields:
            if name == "transactions":
                body[name] = draw(st.lists(st.dictionaries(st.sampled_from(TXN_FIELDS), junk_json, max_size=6),
                                           max_size=3) | junk_json)
            elif name in ("txn_ids", "je_ids"):
                body[name] = draw(st.lists(st.one_of(st.sampled_from(ids["txn"] + ids["je"]), junk_json), max_size=4)
                                  | junk_json)
            elif name == "plan":
                body[name] = draw(st.one_of(st.sampled_from(PLANS), junk_json))
            else:
                body[name] = draw(junk_json)
        data = json.dumps(body).encode()
    elif shape == "junk":
        data = json.dumps(draw(junk_json)).encode()
    elif shape == "raw":
        data = draw(st.binary(max_size=64))
    else:
        depth = draw(st.integers(20, 5000))
        data = b'{"a":' * depth + b"1" + b"}" * depth
    return {"method": "POST", "url": path + draw(queries()), "data": data}


@st.composite
def form_requests(draw: st.DrawFn, ids: dict[str, list[str]], template: str) -> dict[str, Any]:
    if template == "GET":
        page = draw(st.sampled_from(PAGES)).replace("{co}", path_id(draw, ids["co"]))
        return {"method": "GET", "url": page + draw(queries()), "data": None}
    je = draw(st.sampled_from(ids["je"]))
    path = (template.replace("{plan}", quote(draw(st.one_of(st.sampled_from(PLANS), form_text)), safe=""))
            .replace("{co}", path_id(draw, ids["co"]))
            .replace("{id}", path_id(draw, ids["je"] if "entries" in template else ["tok_unknown"])))
    names = [n.replace("{je}", je).replace("{id}", je) for n in FORMS[template]] + ["unexpected"]
    data: dict[str, Any] = {name: draw(form_text) for name in
                            draw(st.lists(st.sampled_from(names), unique=True, max_size=4))}
    if template.endswith(("/import", "/import/preview")) and draw(st.booleans()):
        data["csv_file"] = (__import__("io").BytesIO(draw(st.binary(max_size=200))), draw(form_text) or "x.csv")
    if "txn_ids" in data:
        data["txn_ids"] = [data["txn_ids"], draw(st.sampled_from(ids["txn"]))]
    return {"method": "POST", "url": path + draw(queries()), "data": data}


def fingerprint() -> str:
    """A hash of every row of every table, read on a fresh connection (what is committed)."""
    digest = hashlib.sha256()
    with _db.engine.connect() as conn:
        for table in _db.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            digest.update(table.name.encode())
            digest.update(repr(sorted(map(repr, rows))).encode())
    return digest.hexdigest()


@pytest.fixture
def workspace(billing: Any, tenant: Any, clock: Any) -> dict[str, Any]:
    """A tenant with a company, two transactions and a proposal; its Bearer client and a logged-in browser."""
    api = billing.app.test_client()
    auth = {"Authorization": f"Bearer {tenant.token}"}
    api.post("/api/transactions", headers=auth, json={"transactions": [
        {"id": "t1", "date": "2025-01-02", "description": "Coffee", "amount_cents": -450},
        {"id": "t2", "date": "2025-01-03", "description": "Client payment", "amount_cents": 120000}]})
    proposed = api.post("/api/post/propose", headers=auth, json={"txn_ids": ["t1"]}).get_json()["data"]
    web = billing.app.test_client()
    g.pop("csrf_token", None)
    token = csrf_token_from(web.get("/login").get_data(as_text=True))
    assert web.post("/login", data={"email": tenant.email, "password": "testpass123",
                                    "csrf_token": token}).status_code == 302
    billing.wait_for_webhooks()
    company = api.get("/api/companies", headers=auth).get_json()["data"][0]["id"]
    return {"api": api, "auth": auth, "web": web,
            "ids": {"txn": ["t1", "t2"], "je": [proposed[0]["je_id"]], "co": [company]}}


@pytest.fixture
def app_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    yield caplog


def check(billing: Any, app_log: pytest.LogCaptureFixture, send: Any, request: dict[str, Any]) -> None:
    """Send one request and hold it to the three properties."""
    seen = len(app_log.records)
    before = fingerprint()
    g.pop("_login_user", None)  # the test's app context outlives each request: no user carried over
    g.pop("csrf_token", None)
    resp = send(request)
    where = f"{request['method']} {request['url'][:200]}"
    assert resp.status_code < 500, f"{where} → {resp.status_code}: {resp.get_data(as_text=True)[:500]}"
    tracebacks = [r for r in app_log.records[seen:] if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, f"{where} logged {tracebacks[0].getMessage()}"
    if 400 <= resp.status_code < 500:
        assert fingerprint() == before, f"{where} → {resp.status_code} changed a row"
    else:
        billing.wait_for_webhooks()  # what a success set off at the emulator lands before the next example


def test_fuzzed_api_requests_never_5xx_never_log_a_traceback_and_refusals_change_nothing(
        billing: Any, workspace: dict[str, Any], app_log: pytest.LogCaptureFixture) -> None:
    api, auth = workspace["api"], workspace["auth"]

    def send(req: dict[str, Any]) -> Any:
        return api.open(req["url"], method=req["method"], data=req["data"],
                        headers={**auth, "Content-Type": "application/json"})

    for template in ["GET", *sorted(API_FIELDS)]:
        @FUZZ
        @given(api_requests(workspace["ids"], template))
        def run(req: dict[str, Any]) -> None:
            check(billing, app_log, send, req)

        run()


def test_fuzzed_forms_and_pages_never_5xx_never_log_a_traceback_and_refusals_change_nothing(
        billing: Any, workspace: dict[str, Any], app_log: pytest.LogCaptureFixture) -> None:
    billing.app.config["WTF_CSRF_ENABLED"] = False  # past the CSRF check, to the views themselves
    web = workspace["web"]

    def send(req: dict[str, Any]) -> Any:
        return web.open(req["url"], method=req["method"], data=req["data"])

    for template in ["GET", *sorted(FORMS)]:
        @settings(FUZZ, max_examples=FORM_EXAMPLES)
        @given(form_requests(workspace["ids"], template))
        def run(req: dict[str, Any]) -> None:
            check(billing, app_log, send, req)

        run()
