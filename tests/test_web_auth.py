"""The account pages, as a browser uses them: forms with CSRF, field errors, sessions, tokens."""
from __future__ import annotations

import pytest
from flask import session
from sqlalchemy import func, select

from tests.conftest import csrf_token_from, signup_api_client
from webapp.models import ApiToken, Company, User


def form_post(client, path, data, page=None):
    token = csrf_token_from(client.get(page or path).get_data(as_text=True))
    return client.post(path, data={**data, "csrf_token": token})


def test_root_sends_a_visitor_to_the_sign_up_page(client):
    resp = client.get("/", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<title>Sign up" in html and 'name="email"' in html


def test_sign_up_form_creates_the_account_and_its_named_company_and_logs_in(client, db):
    resp = form_post(client, "/signup", {"email": "Web@Example.com", "password": "testpass123",
                                         "full_name": "Web User", "company_name": "  Harbor Street Bakery "})
    assert resp.status_code == 302
    account = client.get("/account").get_data(as_text=True)
    assert "web@example.com" in account and "Web User" in account
    assert db.session.scalars(select(Company.name)).all() == ["Harbor Street Bakery"]
    workspace = client.get("/app", follow_redirects=True).get_data(as_text=True)
    assert '<h1 id="company-heading">Harbor Street Bakery' in workspace


def test_sign_up_form_shows_each_error_next_to_its_field_and_creates_nothing(client, db):
    resp = form_post(client, "/signup", {"email": "nope", "password": "short", "full_name": "", "company_name": " "})
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    for field in ("email", "password", "full_name", "company_name"):
        assert f'id="{field}-error"' in html
    assert "Company name is required" in html
    assert 'value="nope"' in html  # what was typed stays in the form
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_sign_up_form_with_a_taken_email_says_so(client, db):
    signup_api_client(client, email="taken@example.com")
    resp = form_post(client, "/signup", {"email": "taken@example.com", "password": "testpass123",
                                         "full_name": "X", "company_name": "X Co"})
    assert resp.status_code == 409 and "already exists" in resp.get_data(as_text=True)


def test_form_post_without_csrf_token_is_refused_and_changes_nothing(client, db):
    resp = client.post("/signup", data={"email": "a@example.com", "password": "testpass123", "full_name": "A"})
    assert resp.status_code == 400
    assert "form has expired" in resp.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_log_in_with_wrong_password_shows_an_error(client, user):
    resp = form_post(client, "/login", {"email": user.email, "password": "wrongpass1"})
    assert resp.status_code == 401 and "Email or password is wrong" in resp.get_data(as_text=True)


def test_account_page_needs_a_login(client):
    resp = client.get("/account")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_log_in_follows_only_same_site_next_urls(client, user):
    page = client.get("/login?next=//evil.example/steal").get_data(as_text=True)
    resp = client.post("/login?next=//evil.example/steal",
                       data={"email": user.email, "password": "testpass123", "csrf_token": csrf_token_from(page)})
    assert resp.headers["Location"] == "/app"


def test_log_out_ends_the_session(logged_in):
    resp = logged_in.client.post("/logout", data={"csrf_token": logged_in.csrf()})
    assert resp.status_code == 302
    assert logged_in.client.get("/account").status_code == 302


def test_account_page_creates_a_token_shown_once_that_works_on_the_api(logged_in, db):
    resp = logged_in.client.post("/account/tokens", data={"name": "my script", "csrf_token": logged_in.csrf()})
    assert resp.status_code == 201
    html = resp.get_data(as_text=True)
    token = html.split('id="new-token">')[1].split("<")[0]
    assert token.startswith("abk_")
    assert logged_in.client.get("/api/companies", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert token not in logged_in.client.get("/account").get_data(as_text=True)


def test_account_page_refuses_a_token_without_name(logged_in):
    resp = logged_in.client.post("/account/tokens", data={"name": "  ", "csrf_token": logged_in.csrf()})
    assert resp.status_code == 400 and 'id="token-name-error"' in resp.get_data(as_text=True)


def test_revoking_a_token_on_the_account_page_makes_it_401(logged_in, user, db):
    token_id = db.session.scalars(select(ApiToken.id).where(ApiToken.prefix == user.token[:12])).one()
    resp = logged_in.client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": logged_in.csrf()})
    assert resp.status_code == 302
    assert user.get("/api/companies").status_code == 401
    assert "Revoked" in logged_in.client.get("/account").get_data(as_text=True)


def test_a_user_cannot_revoke_another_tenants_token(logged_in, client, db):
    other = signup_api_client(client, email="other@example.com")
    token_id = db.session.scalars(select(ApiToken.id).where(ApiToken.tenant_id == other.tenant_id)).one()
    resp = logged_in.client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": logged_in.csrf()})
    assert resp.status_code == 404
    assert other.get("/api/companies").status_code == 200


def test_api_routes_ignore_the_session_cookie(logged_in):
    assert logged_in.client.get("/api/companies").status_code == 401


def test_a_bearer_api_request_neither_reads_nor_sets_the_session_cookie(logged_in, user):
    browser = logged_in.client
    before = browser.get_cookie("session").value
    resp = browser.get("/api/companies", headers={"Authorization": f"Bearer {user.token}"})
    assert resp.status_code == 200
    assert "Set-Cookie" not in resp.headers and "Cookie" not in resp.headers.get("Vary", "")
    assert browser.get_cookie("session").value == before
    assert browser.get("/account").status_code == 200  # the browser's session is untouched by the API call


def test_a_page_still_reads_and_sets_the_session_cookie(client):
    resp = client.get("/login")  # the form's CSRF token lives in the session
    assert any(c.startswith("session=") for c in resp.headers.getlist("Set-Cookie"))
    assert "Cookie" in resp.headers["Vary"]


def test_writing_to_the_session_of_an_api_request_fails_loudly(app):
    with app.test_request_context("/api/companies"), pytest.raises(RuntimeError, match="no cookie session"):
        session["user"] = "x"
