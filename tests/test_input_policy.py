"""The input policy at the edge (issue 11, findings 1 and 2): no input makes a 500, no redirect leaves the site."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import ApiClient, BrowserUser, csrf_token_from
from webapp.input_policy import MAX_JSON_DEPTH
from webapp.models import ApiToken, Company, Tenant, Transaction, User
from webapp.redirects import same_site_path

REFUSED = "contains a character that is not allowed"


def counts(db: Any) -> dict[str, int]:
    """Rows per table the refused requests below could have touched."""
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
            for m in (Tenant, User, ApiToken, Company, Transaction)}


@pytest.fixture
def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Log records that carry a traceback (each one an unhandled error)."""
    caplog.set_level(logging.INFO)

    class View(list):  # evaluated when read, after the requests ran
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter([r for r in caplog.records if r.exc_info])

        def __len__(self) -> int:
            return len(list(iter(self)))

    return View()


def deep(n: int) -> bytes:
    return b'{"a":' * n + b"1" + b"}" * n


@pytest.mark.parametrize("path", ["/api/auth/signup", "/api/auth/login", "/api/companies", "/api/post/propose"])
def test_json_nested_50000_deep_is_a_400_on_every_json_route(api_client: ApiClient, path: str, tracebacks: list) -> None:
    resp = api_client.post(path, data=b"[" * 50_000 + b"]" * 50_000, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "INVALID_REQUEST"
    assert "nested" in resp.get_json()["message"]
    assert not tracebacks


def test_json_deeper_than_the_limit_is_refused_and_at_the_limit_is_parsed(api_client: ApiClient) -> None:
    too_deep = api_client.post("/api/companies", data=deep(MAX_JSON_DEPTH + 1), headers={"Content-Type": "application/json"})
    assert too_deep.status_code == 400 and "nested" in too_deep.get_json()["message"]
    at_limit = api_client.post("/api/companies", data=deep(MAX_JSON_DEPTH),
                               headers={"Content-Type": "application/json"})
    assert at_limit.status_code == 400 and at_limit.get_json()["fields"] == {"a": "is not a known field",
                                                                           "name": "is required"}


NUL_API_CASES = [
    ("post", "/api/companies", {"name": "Acme\x00"}, "name"),
    ("post", "/api/transactions", {"company_id": "c\x00", "transactions": []}, "company_id"),
    ("post", "/api/transactions", {"transactions": [{"id": "t\x00", "date": "2025-01-02", "description": "x",
                                                     "amount": "-1.00"}]}, "transactions[0].id"),
    ("post", "/api/transactions", {"transactions": [{"id": "t1", "date": "2025-01-02", "description": "x\x00",
                                                     "amount": "-1.00", "counterparty": "y"}]},
     "transactions[0].description"),
    ("post", "/api/post/propose", {"txn_ids": ["a", "b\x00"]}, "txn_ids[1]"),
    ("post", "/api/post/commit", {"je_ids": ["je\x00"]}, "je_ids[0]"),
    ("post", "/api/post/entries/je%00/account", {"account_code": "6000"}, "je_id"),
    ("get", "/api/ledger?company_id=%00", None, "company_id"),
    ("get", "/api/trial-balance?company_id=x%00y", None, "company_id"),
    ("post", "/api/companies", {"name\x00": "Acme"}, "name\\x00"),
    ("post", "/api/companies", {"name": "\ud800"}, "name"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), NUL_API_CASES)
def test_nul_or_lone_surrogate_anywhere_in_an_api_request_is_a_400_naming_the_field(
        api_client: ApiClient, db: Any, tracebacks: list, method: str, path: str, body: Any, field: str) -> None:
    before = counts(db)
    resp = getattr(api_client, method)(path, **({"json": body} if body is not None else {}))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    payload = resp.get_json()
    assert payload["code"] == "INVALID_REQUEST"
    assert REFUSED in payload["fields"][field]
    assert counts(db) == before
    assert not tracebacks


@pytest.mark.parametrize("body", [{"email": "a@example.com", "password": "\ud800abcdefgh", "full_name": "A"},
                                  {"email": "a@example.com", "password": "abcdefgh12", "full_name": "A\x00"},
                                  {"email": "a\x00@example.com", "password": "abcdefgh12", "full_name": "A"}])
def test_sign_up_refuses_nul_and_lone_surrogates_and_creates_nothing(client: Any, db: Any, tracebacks: list,
                                                                     body: dict[str, str]) -> None:
    before = counts(db)
    resp = client.post("/api/auth/signup", json=body)
    assert resp.status_code == 400
    assert any(REFUSED in problem for problem in resp.get_json()["fields"].values())
    assert counts(db) == before
    assert not tracebacks


def test_log_in_with_a_lone_surrogate_password_is_a_400_not_a_500(user: ApiClient, client: Any,
                                                                  tracebacks: list) -> None:
    resp = client.post("/api/auth/login", json={"email": user.email, "password": "\ud800"})
    assert resp.status_code == 400
    assert resp.get_json()["fields"] == {"password": REFUSED + " (NUL or an unpaired surrogate)"}
    assert not tracebacks


def test_sign_up_form_shows_the_refused_field_next_to_it(client: Any, db: Any) -> None:
    token = csrf_token_from(client.get("/signup").get_data(as_text=True))
    before = counts(db)
    resp = client.post("/signup", data={"csrf_token": token, "email": "x@example.com", "password": "abcdefgh12",
                                        "full_name": "Ann\x00"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'id="full_name-error"' in html and REFUSED in html
    assert 'value="x@example.com"' in html  # the other fields are kept
    assert counts(db) == before


def test_log_in_form_shows_the_refused_field_next_to_it(client: Any, user: ApiClient) -> None:
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    resp = client.post("/login", data={"csrf_token": token, "email": user.email, "password": "pass\x00word"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert 'id="password-error"' in html and REFUSED in html


def test_workspace_forms_show_refused_fields_next_to_them(logged_in: BrowserUser, db: Any, tracebacks: list) -> None:
    web = logged_in.client
    page = web.get("/app").headers["Location"]  # /app/companies/<id>
    company_id = page.rsplit("/", 1)[1]
    token = logged_in.csrf(page)
    before = counts(db)
    company = web.post("/app/companies", data={"csrf_token": token, "new_company_name": "Acme\x00",
                                               "company": company_id})
    assert company.status_code == 400 and 'id="new-company-name-error"' in company.get_data(as_text=True)
    rename = web.post(f"{page}/rename", data={"csrf_token": token, "company_name": "Acme\x00"})
    assert rename.status_code == 400 and 'id="company-name-error"' in rename.get_data(as_text=True)
    paste = web.post(f"{page}/import/preview", data={"csrf_token": token, "csv_text": "date,description,amount\n"
                                                                                     "2025-01-02,Pens\x00,-3.00\n"})
    assert paste.status_code == 400 and 'id="csv-text-error"' in paste.get_data(as_text=True)
    propose = web.post(f"{page}/propose", data={"csrf_token": token, "txn_ids": ["t\x00"]})
    assert propose.status_code == 400
    htmx = web.post(f"{page}/rename", data={"csrf_token": token, "company_name": "Acme\x00"},
                    headers={"HX-Request": "true"})
    assert htmx.status_code == 400 and htmx.headers["HX-Retarget"] == "#workspace"  # the fragment, marked
    assert 'id="company-name-error"' in htmx.get_data(as_text=True)
    assert counts(db) == before
    assert not tracebacks


def test_token_name_with_nul_is_shown_next_to_the_field(logged_in: BrowserUser, db: Any) -> None:
    before = counts(db)
    resp = logged_in.client.post("/account/tokens", data={"csrf_token": logged_in.csrf(), "name": "ci\x00"})
    assert resp.status_code == 400 and 'id="token-name-error"' in resp.get_data(as_text=True)
    assert counts(db) == before


@pytest.mark.parametrize("url", ["/app?company=%00", "/app/companies/%00/entries/x/account", "/static/%00",
                                 "/billing?since=%00"])
def test_nul_in_a_page_query_or_path_is_a_400_page(logged_in: BrowserUser, url: str, tracebacks: list) -> None:
    method = logged_in.client.post if "entries" in url else logged_in.client.get
    data = {"csrf_token": logged_in.csrf()} if method == logged_in.client.post else None
    resp = method(url, data=data)
    assert resp.status_code == 400
    assert REFUSED in resp.get_data(as_text=True)
    assert not tracebacks


# --- Finding 1: same-site redirects only -------------------------------------------------------------

@pytest.mark.parametrize("target", ["/\t/evil.example", "/%09/evil.example", "//evil.example", "/\\evil.example",
                                    "\\/evil.example", "https://evil.example/", " //evil.example", "/\n/evil.example",
                                    "\x01//evil.example", "javascript:alert(1)", "http:evil.example",
                                    "/\r\n/evil.example", "evil.example"])
def test_login_next_that_a_browser_would_read_as_another_site_goes_to_the_workspace(
        app: Any, user: ApiClient, target: str, tracebacks: list) -> None:
    from urllib.parse import quote, unquote

    web = app.test_client()
    token = csrf_token_from(web.get("/login").get_data(as_text=True))
    query = quote(unquote(target), safe="")
    resp = web.post(f"/login?next={query}", data={"csrf_token": token, "email": user.email,
                                                   "password": "testpass123"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert resp.headers["Location"] == "/app"
    assert not tracebacks


def test_login_follows_a_same_site_next_path(app: Any, user: ApiClient) -> None:
    web = app.test_client()
    token = csrf_token_from(web.get("/login").get_data(as_text=True))
    resp = web.post("/login?next=/billing%3Factivating%3D0", data={"csrf_token": token, "email": user.email,
                                                                  "password": "testpass123"})
    assert resp.headers["Location"] == "/billing?activating=0"


@pytest.mark.parametrize(("raw", "expected"), [("/app", "/app"), ("/a\tb", "/ab"), ("/\t/x", None), ("\\\\x", None),
                                               ("/x\\y", "/x/y"), ("  /app  ", "/app"), ("", None), (None, None),
                                               ("/%2F%2Fx", "/%2F%2Fx"), ("/x\x7f", None)])
def test_same_site_path_normalises_like_a_browser(raw: str | None, expected: str | None) -> None:
    assert same_site_path(raw) == expected


def test_login_page_redirect_keeps_only_a_same_site_page_from_hx_current_url(client: Any) -> None:
    resp = client.get("/billing", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"})
    assert resp.status_code == 401
    assert "evil" not in resp.headers["HX-Redirect"]
