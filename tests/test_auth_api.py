"""The account API: sign-up, log-in, Bearer tokens, and every bad-input case changing nothing."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.conftest import signup_api_client
from webapp.models import ApiToken, Company, Entitlement, Tenant, User

GOOD = {"email": "test@example.com", "password": "testpass123", "full_name": "Test User"}


def counts(db) -> tuple[int, int, int, int]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Tenant, User, ApiToken, Company))


def test_signup_returns_201_with_bearer_token_and_ids(client, db):
    resp = client.post("/api/auth/signup", json=GOOD)
    assert resp.status_code == 201
    body = resp.get_json()
    assert set(body) == {"tenant_id", "user_id", "token", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["tenant_id"].startswith("tenant_") and body["user_id"].startswith("user_")
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.get_json()["email"] == "test@example.com"


def test_signup_starts_tenant_on_free_inactive_entitlement_with_one_company(client, db):
    body = client.post("/api/auth/signup", json=GOOD).get_json()
    ent = db.session.get(Entitlement, body["tenant_id"])
    assert (ent.plan, ent.active, ent.subscription_status, ent.tx_cap) == ("free", False, "none", 0)
    assert ent.included_companies == 1 and ent.addon_companies == 0 and not ent.bulk_approve
    companies = db.session.scalars(select(Company).where(Company.tenant_id == body["tenant_id"])).all()
    assert len(companies) == 1


def test_signup_stores_only_a_hash_of_the_token_and_of_the_password(client, db):
    body = client.post("/api/auth/signup", json=GOOD).get_json()
    token = db.session.scalars(select(ApiToken)).one()
    assert body["token"] not in (token.token_hash, token.prefix)
    assert len(token.token_hash) == 64
    user = db.session.scalars(select(User)).one()
    assert "testpass123" not in user.password_hash


def test_signup_accepts_json_without_content_type_as_the_runbook_curl_sends_it(client):
    resp = client.post("/api/auth/signup", data=json.dumps(GOOD),
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 201


def test_signup_with_email_in_other_case_is_409_email_taken_and_creates_nothing(client, db):
    client.post("/api/auth/signup", json=GOOD)
    before = counts(db)
    resp = client.post("/api/auth/signup", json={**GOOD, "email": "  TEST@Example.COM "})
    assert resp.status_code == 409
    assert resp.get_json()["code"] == "EMAIL_TAKEN"
    assert counts(db) == before


@pytest.mark.parametrize(("raw", "field", "problem"), [
    ('{"email": "a@b.co", "password": "testpass123", ', "body", "malformed JSON"),
    ("[1, 2]", "body", "must be a JSON object"),
    ('"just a string"', "body", "must be a JSON object"),
    ("42", "body", "must be a JSON object"),
    ("", "body", "is empty"),
    ('{"password": "testpass123", "full_name": "A"}', "email", "is required"),
    ('{"email": "a@b.co", "full_name": "A"}', "password", "is required"),
    ('{"email": "a@b.co", "password": "testpass123"}', "full_name", "is required"),
    ('{"email": 5, "password": "testpass123", "full_name": "A"}', "email", "must be a string"),
    ('{"email": "a@b.co", "password": ["x"], "full_name": "A"}', "password", "must be a string"),
    ('{"email": "a@b.co", "password": "testpass123", "full_name": true}', "full_name", "must be a string"),
    ('{"email": "not-an-email", "password": "testpass123", "full_name": "A"}', "email", "@"),
    ('{"email": "a@b.co", "password": "short7!", "full_name": "A"}', "password", "at least 8"),
    ('{"email": "a@b.co", "password": "testpass123", "full_name": "   "}', "full_name", "is required"),
    ('{"email": "a@b.co", "password": "testpass123", "full_name": "A", "plan": "pro"}', "plan", "not a known"),
])
def test_signup_bad_input_is_400_invalid_request_naming_the_field_and_changes_nothing(
        client, db, raw, field, problem):
    before = counts(db)
    resp = client.post("/api/auth/signup", data=raw)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["code"] == "INVALID_REQUEST" and body["message"]
    assert problem in body["fields"][field]
    assert counts(db) == before


def test_oversize_body_is_413_in_the_error_shape_and_changes_nothing(client, db, app):
    before = counts(db)
    big = json.dumps({**GOOD, "full_name": "x" * (app.config["MAX_CONTENT_LENGTH"] + 10)})
    resp = client.post("/api/auth/signup", data=big)
    assert resp.status_code == 413
    body = resp.get_json()
    assert body["code"] == "INVALID_REQUEST" and "body" in body["fields"]
    assert counts(db) == before


def test_login_returns_a_new_working_token(client):
    first = client.post("/api/auth/signup", json=GOOD).get_json()
    resp = client.post("/api/auth/login", json={"email": "Test@example.com", "password": "testpass123"})
    assert resp.status_code == 200
    body = resp.get_json()
    assert set(body) == {"token", "token_type", "tenant_id"}
    assert body["tenant_id"] == first["tenant_id"] and body["token"] != first["token"]
    assert client.get("/api/companies", headers={"Authorization": f"Bearer {body['token']}"}).status_code == 200


def test_login_wrong_password_and_unknown_email_get_the_same_401(client):
    client.post("/api/auth/signup", json=GOOD)
    wrong = client.post("/api/auth/login", json={"email": GOOD["email"], "password": "wrongpass123"})
    unknown = client.post("/api/auth/login", json={"email": "nobody@example.com", "password": "testpass123"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["code"] == "INVALID_CREDENTIALS"


def test_login_bad_input_is_400(client):
    resp = client.post("/api/auth/login", data='{"email": "a@b.co"}')
    assert resp.status_code == 400 and resp.get_json()["fields"] == {"password": "is required"}


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer abk_unknown", "Basic dXNlcjpwYXNz",
                                    "Token {token}", "Bearer {token}x"])
def test_api_without_a_valid_bearer_token_is_401_unauthorized(api_client, header):
    headers = {} if header is None else {"Authorization": header.format(token=api_client.token)}
    resp = api_client.client.get("/api/companies", headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["code"] == "UNAUTHORIZED"


def test_revoked_token_is_401_and_other_tokens_keep_working(client, db):
    tenant = signup_api_client(client)
    second = client.post("/api/auth/login", json={"email": tenant.email, "password": "testpass123"}).get_json()
    from webapp.auth import services

    token_id = db.session.scalars(select(ApiToken.id).where(ApiToken.prefix == tenant.token[:12])).one()
    services.revoke_token(tenant.tenant_id, token_id)
    assert tenant.get("/api/companies").status_code == 401
    ok = client.get("/api/companies", headers={"Authorization": f"Bearer {second['token']}"})
    assert ok.status_code == 200


def test_a_tokens_last_use_is_written_at_most_once_a_minute(api_client, clock, db):
    def last_used():
        db.session.expire_all()
        return db.session.scalar(select(ApiToken.last_used_at).where(ApiToken.tenant_id == api_client.tenant_id))

    assert api_client.get("/api/companies").status_code == 200
    first = last_used()
    assert first == clock.now()
    clock.advance(seconds=59)
    assert api_client.get("/api/companies").status_code == 200
    assert last_used() == first
    clock.advance(seconds=2)
    assert api_client.get("/api/companies").status_code == 200
    assert last_used() == clock.now()


def test_token_of_one_tenant_never_reads_another_tenants_data(client):
    alice = signup_api_client(client, email="alice@example.com", full_name="Alice")
    bob = signup_api_client(client, email="bob@example.com", full_name="Bob")
    alice_names = [c["name"] for c in alice.get("/api/companies").get_json()["data"]]
    bob_names = [c["name"] for c in bob.get("/api/companies").get_json()["data"]]
    assert alice_names == ["Alice's company"] and bob_names == ["Bob's company"]
    assert alice.get("/api/auth/me").get_json()["tenant_id"] == alice.tenant_id


class TestRateLimits:
    @pytest.fixture
    def app_overrides(self):
        return {"AUTH_RATE_LIMIT": "3 per minute"}

    def test_signup_is_rate_limited_per_address_with_retry_after(self, client, db):
        for i in range(3):
            client.post("/api/auth/signup", json={**GOOD, "email": f"u{i}@example.com"})
        before = counts(db)
        resp = client.post("/api/auth/signup", json={**GOOD, "email": "late@example.com"})
        assert resp.status_code == 429
        assert resp.get_json()["code"] == "RATE_LIMITED"
        assert 0 < int(resp.headers["Retry-After"]) <= 60
        assert counts(db) == before

    def test_login_is_rate_limited_too(self, client):
        for _ in range(3):
            client.post("/api/auth/login", json={"email": "x@example.com", "password": "whatever1"})
        resp = client.post("/api/auth/login", json={"email": "x@example.com", "password": "whatever1"})
        assert resp.status_code == 429 and resp.get_json()["code"] == "RATE_LIMITED"
        assert "Retry-After" in resp.headers

    def test_other_client_addresses_are_not_limited(self, client):
        for _ in range(4):
            client.post("/api/auth/login", json={"email": "x@example.com", "password": "whatever1"})
        other = client.post("/api/auth/login", json={"email": "x@example.com", "password": "whatever1"},
                            environ_base={"REMOTE_ADDR": "127.0.0.2"})
        assert other.status_code == 401
