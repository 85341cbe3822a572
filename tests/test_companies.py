"""Companies: listed per tenant, limited by the plan."""
from __future__ import annotations

import pytest

from tests.conftest import signup_api_client
from tests.factories import set_plan
from webapp.bookkeeping import services
from webapp.errors import PaywallError
from webapp.models import Entitlement


def test_free_tenant_adding_a_second_company_gets_402_company_limit_reached(api_client):
    resp = api_client.post("/api/companies", json={"name": "Second Co"})
    assert resp.status_code == 402
    body = resp.get_json()
    assert body["code"] == "COMPANY_LIMIT_REACHED" and body["limit"] == 1 and body["used"] == 1
    assert body["plan"] == "free" and body["upgrade_url"] == "/billing/plans" and "portal_url" not in body
    assert len(api_client.get("/api/companies").get_json()["data"]) == 1


def test_pro_tenant_may_add_up_to_three_companies(api_client, db):
    ent = db.session.get(Entitlement, api_client.tenant_id)
    ent.plan, ent.active, ent.subscription_status, ent.included_companies = "pro", True, "active", 3
    db.session.commit()
    assert api_client.post("/api/companies", json={"name": "B"}).status_code == 201
    assert api_client.post("/api/companies", json={"name": "C"}).status_code == 201
    body = api_client.post("/api/companies", json={"name": "D"}).get_json()
    assert body["code"] == "COMPANY_LIMIT_REACHED" and body["plan"] == "pro" and body["plans_with_more"] == ["firm"]
    assert body["portal_url"] == "/api/billing/portal"  # a subscriber changes plan in the Portal


def test_past_due_tenant_over_the_free_allowance_is_told_to_update_the_card(api_client, db):
    ent = db.session.get(Entitlement, api_client.tenant_id)
    ent.plan, ent.active, ent.subscription_status, ent.included_companies = "pro", False, "past_due", 3
    db.session.commit()
    resp = api_client.post("/api/companies", json={"name": "B"})
    body = resp.get_json()
    assert resp.status_code == 402 and body["code"] == "PAYMENT_REQUIRED"
    assert body["subscription_status"] == "past_due" and body["portal_url"] == "/api/billing/portal"
    assert len(api_client.get("/api/companies").get_json()["data"]) == 1


def test_duplicate_company_name_is_409(api_client, db):
    ent = db.session.get(Entitlement, api_client.tenant_id)
    ent.plan, ent.active, ent.subscription_status, ent.included_companies = "pro", True, "active", 3
    db.session.commit()
    name = api_client.get("/api/companies").get_json()["data"][0]["name"]
    resp = api_client.post("/api/companies", json={"name": name})
    assert resp.status_code == 409 and resp.get_json()["code"] == "COMPANY_EXISTS"


def test_company_bad_input_is_400(api_client):
    for body in ({}, {"name": 3}, {"name": ""}, {"name": "x" * 201}):
        resp = api_client.post("/api/companies", json=body)
        assert resp.status_code in (400, 402) and resp.get_json()["code"] in ("INVALID_REQUEST",)


def test_companies_are_isolated_per_tenant(client):
    a = signup_api_client(client, full_name="A")
    b = signup_api_client(client, full_name="B")
    assert {c["id"] for c in a.get("/api/companies").get_json()["data"]}.isdisjoint(
        {c["id"] for c in b.get("/api/companies").get_json()["data"]})


def test_deleting_a_tenant_cascades_to_its_rows_on_every_backend(api_client, db):
    from sqlalchemy import delete, func, select

    from webapp.models import ApiToken, Company, Tenant, User

    db.session.execute(delete(Tenant).where(Tenant.id == api_client.tenant_id))
    db.session.commit()
    for model in (User, ApiToken, Company, Entitlement):
        assert db.session.scalar(select(func.count()).select_from(model)
                                 .where(model.tenant_id == api_client.tenant_id)) == 0


def test_parallel_company_additions_never_pass_the_allowance(app, api_client, db, backend):
    import threading

    from sqlalchemy import func, select

    from webapp.bookkeeping import services
    from webapp.errors import DomainError
    from webapp.models import Company

    ent = db.session.get(Entitlement, api_client.tenant_id)
    ent.plan, ent.active, ent.subscription_status, ent.included_companies = "pro", True, "active", 3
    db.session.commit()
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def add(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                services.add_company(api_client.tenant_id, f"Parallel {i}")
                outcomes.append("ok")
            except DomainError as exc:
                outcomes.append(exc.code)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.session.expire_all()
    total = db.session.scalar(select(func.count()).select_from(Company).where(Company.tenant_id == api_client.tenant_id))
    assert total == 3 and outcomes.count("ok") == 2
    assert outcomes.count("COMPANY_LIMIT_REACHED") == 6


def test_api_sign_up_may_name_the_first_company_and_defaults_to_the_owners_name(client):
    named = client.post("/api/auth/signup", json={"email": "n@example.com", "password": "testpass123",
                                                  "full_name": "Dana", "company_name": "Harbor Bakery"})
    assert named.status_code == 201
    token = named.get_json()["token"]
    companies = client.get("/api/companies", headers={"Authorization": f"Bearer {token}"}).get_json()["data"]
    assert [c["name"] for c in companies] == ["Harbor Bakery"]
    unnamed = signup_api_client(client, full_name="Lee")
    assert [c["name"] for c in unnamed.get("/api/companies").get_json()["data"]] == ["Lee's company"]


def test_an_archived_company_frees_its_slot_keeps_its_books_and_takes_no_new_transactions(api_client, db):
    first = api_client.get("/api/companies").get_json()["data"][0]["id"]
    row = {"id": "b1", "date": "2025-01-02", "description": "Coffee", "amount_cents": -450}
    assert api_client.post("/api/transactions", json={"transactions": [row]}).status_code == 201
    ent = db.session.get(Entitlement, api_client.tenant_id)
    ent.plan, ent.active, ent.subscription_status, ent.included_companies = "starter", True, "active", 1
    db.session.commit()
    assert api_client.post("/api/companies", json={"name": "Second"}).status_code == 402
    db.session.rollback()
    ent.plan, ent.included_companies = "pro", 2
    db.session.commit()
    second = api_client.post("/api/companies", json={"name": "Second"}).get_json()["id"]
    services.archive_company(api_client.tenant_id, first)
    assert services.get_company(api_client.tenant_id, None).id == second  # the first active one is the default
    third = api_client.post("/api/companies", json={"name": "Third"})  # the archived one's slot is free
    assert third.status_code == 201

    refused = api_client.post("/api/transactions", json={"company_id": first, "transactions": [
        {**row, "id": "b2"}]})
    assert refused.status_code == 409 and refused.get_json()["code"] == "COMPANY_ARCHIVED"
    ledger = api_client.get(f"/api/trial-balance?company_id={first}")
    assert ledger.status_code == 200  # its books stay readable
    listed = {c["id"]: c for c in api_client.get("/api/companies").get_json()["data"]}
    assert listed[first]["archived_at"] is not None and listed[second]["archived_at"] is None
    with pytest.raises(PaywallError):  # both active places taken: restoring needs a free one
        services.restore_company(api_client.tenant_id, first)


def test_committing_a_proposal_of_a_company_archived_since_gets_409_and_posts_and_counts_nothing(api_client, db):
    first = api_client.get("/api/companies").get_json()["data"][0]["id"]
    set_plan(api_client.tenant_id, "pro")
    row = {"id": "a1", "date": "2025-01-02", "description": "Coffee", "amount_cents": -450}
    assert api_client.post("/api/transactions", json={"transactions": [row]}).status_code == 201
    je_id = api_client.post("/api/post/propose", json={"txn_ids": ["a1"]}).get_json()["data"][0]["je_id"]
    assert api_client.post("/api/companies", json={"name": "Second"}).status_code == 201
    services.archive_company(api_client.tenant_id, first)
    posted_before = api_client.get("/api/usage").get_json()["tx_posted"]

    refused = api_client.post("/api/post/commit", json={"je_ids": [je_id]})

    assert refused.status_code == 409 and refused.get_json()["code"] == "COMPANY_ARCHIVED"
    assert refused.get_json()["company_id"] == first
    assert api_client.get("/api/usage").get_json()["tx_posted"] == posted_before == 0
    assert api_client.get(f"/api/ledger?company_id={first}").get_json()["total"] == 0
