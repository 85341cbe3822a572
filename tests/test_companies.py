"""Companies: listed per tenant, limited by the plan."""
from __future__ import annotations

from tests.conftest import signup_api_client
from webapp.models import Entitlement


def test_free_tenant_adding_a_second_company_gets_402_company_limit_reached(api_client):
    resp = api_client.post("/api/companies", json={"name": "Second Co"})
    assert resp.status_code == 402
    body = resp.get_json()
    assert body["code"] == "COMPANY_LIMIT_REACHED" and body["limit"] == 1 and body["used"] == 1
    assert len(api_client.get("/api/companies").get_json()["data"]) == 1


def test_pro_tenant_may_add_up_to_three_companies(api_client, db):
    ent = db.session.get(Entitlement, api_client.tenant_id)
    ent.plan, ent.active, ent.subscription_status, ent.included_companies = "pro", True, "active", 3
    db.session.commit()
    assert api_client.post("/api/companies", json={"name": "B"}).status_code == 201
    assert api_client.post("/api/companies", json={"name": "C"}).status_code == 201
    assert api_client.post("/api/companies", json={"name": "D"}).get_json()["code"] == "COMPANY_LIMIT_REACHED"


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
