"""Importing transactions: client ids unique per company, idempotent re-import, exact cents, one 400 for bad input."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import signup_api_client
from tests.factories import set_plan, txn_rows
from webapp.bookkeeping import accounts, csv_import
from webapp.bookkeeping.accounts import DEFAULT_CHART
from webapp.errors import ValidationError
from webapp.models import Account, Transaction


def count_txns(db, tenant_id: str) -> int:
    return db.session.scalar(select(func.count()).select_from(Transaction).where(Transaction.tenant_id == tenant_id))


def test_every_new_company_gets_the_default_chart(api_client, db):
    set_plan(api_client.tenant_id, "pro")
    second = api_client.post("/api/companies", json={"name": "Second Co"}).get_json()["id"]
    first = api_client.get("/api/companies").get_json()["data"][0]["id"]
    for company_id in (first, second):
        chart = accounts.list_accounts(company_id)
        assert [(a.code, a.name, a.type) for a in chart] == sorted(DEFAULT_CHART)
    assert db.session.scalar(select(func.count()).select_from(Account)) == 2 * len(DEFAULT_CHART)


def test_import_returns_our_ids_and_the_client_ids(api_client, db):
    resp = api_client.post("/api/transactions", json={"transactions": txn_rows(3)})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["created"] == 3 and body["existing"] == 0
    assert [r["client_id"] for r in body["data"]] == ["txn_1", "txn_2", "txn_3"]
    assert all(r["id"].startswith("txn_") and r["created"] for r in body["data"])
    stored = db.session.scalar(select(Transaction).where(Transaction.client_id == "txn_2"))
    assert stored.amount_cents == -1002 and isinstance(stored.amount_cents, int)


def test_reimporting_the_same_client_ids_changes_nothing(api_client, db):
    first = api_client.post("/api/transactions", json={"transactions": txn_rows(3)}).get_json()
    changed = txn_rows(3, description="Edited later", amount_cents=-5)
    again = api_client.post("/api/transactions", json={"transactions": changed})
    assert again.status_code == 200
    body = again.get_json()
    assert body["created"] == 0 and body["existing"] == 3
    assert [r["id"] for r in body["data"]] == [r["id"] for r in first["data"]]
    assert count_txns(db, api_client.tenant_id) == 3
    assert db.session.scalar(select(Transaction.amount_cents).where(Transaction.client_id == "txn_1")) == -1001


def test_partly_new_import_creates_only_the_new_ones(api_client, db):
    api_client.post("/api/transactions", json={"transactions": txn_rows(2)})
    body = api_client.post("/api/transactions", json={"transactions": txn_rows(4)}).get_json()
    assert body["created"] == 2 and [r["created"] for r in body["data"]] == [False, False, True, True]


def test_the_same_client_id_may_exist_in_two_tenants(client):
    a, b = signup_api_client(client), signup_api_client(client)
    assert a.post("/api/transactions", json={"transactions": txn_rows(1)}).status_code == 201
    assert b.post("/api/transactions", json={"transactions": txn_rows(1)}).status_code == 201


@pytest.mark.parametrize("row, field", [
    ({"date": "2025-13-01", "description": "x", "amount_cents": 1}, "transactions[0].date"),
    ({"date": "15/01/2025", "description": "x", "amount_cents": 1}, "transactions[0].date"),
    ({"date": "2025-01-15", "description": "x", "amount_cents": 12.5}, "transactions[0].amount_cents"),
    ({"date": "2025-01-15", "description": "x", "amount_cents": "100"}, "transactions[0].amount_cents"),
    ({"date": "2025-01-15", "description": "x", "amount_cents": True}, "transactions[0].amount_cents"),
    ({"date": "2025-01-15", "description": "x", "amount_cents": 0}, "transactions[0].amount_cents"),
    ({"date": "2025-01-15", "amount_cents": 1}, "transactions[0].description"),
    ({"date": "2025-01-15", "description": "x", "amount_cents": 1, "id": ""}, "transactions[0].id"),
    ({"date": "2025-01-15", "description": "x", "amount_cents": 1, "memo": "?"}, "transactions[0].memo"),
])
def test_bad_transaction_is_400_naming_the_field_and_imports_nothing(api_client, db, row, field):
    good = txn_rows(1)[0]
    resp = api_client.post("/api/transactions", json={"transactions": [good, row]})
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["code"] == "INVALID_REQUEST" and field.replace("[0]", "[1]") in body["fields"]
    assert count_txns(db, api_client.tenant_id) == 0


@pytest.mark.parametrize("body", [{}, {"transactions": []}, {"transactions": "x"}, {"transactions": [1]},
                                  {"transactions": txn_rows(1), "extra": 1}])
def test_malformed_import_body_is_400(api_client, body):
    assert api_client.post("/api/transactions", json=body).status_code == 400


def test_a_client_id_repeated_in_one_request_is_400(api_client):
    rows = txn_rows(1) + txn_rows(1)
    resp = api_client.post("/api/transactions", json={"transactions": rows})
    assert resp.status_code == 400 and "transactions[1].id" in resp.get_json()["fields"]


def test_import_into_another_tenants_company_is_404_with_the_id(client):
    a, b = signup_api_client(client), signup_api_client(client)
    a_company = a.get("/api/companies").get_json()["data"][0]["id"]
    resp = b.post("/api/transactions", json={"company_id": a_company, "transactions": txn_rows(1)})
    assert resp.status_code == 404 and resp.get_json() == {
        "code": "NOT_FOUND", "message": "No such company.", "ids": [a_company]}


def test_csv_import_matches_the_json_import_and_is_idempotent(api_client, db):
    text = ("id,date,description,amount,counterparty\n"
            "bank-1,2025-01-02,Coffee beans,-12.50,Blue Bottle\n"
            'bank-2,2025-01-03,Client payment,"1,234.56",Acme\n'
            "bank-3,2025-01-04,Refund,(3.05),\n")
    result = csv_import.import_csv(api_client.tenant_id, None, text)
    assert result.created == 3
    amounts = dict(db.session.execute(select(Transaction.client_id, Transaction.amount_cents)).all())
    assert amounts == {"bank-1": -1250, "bank-2": 123456, "bank-3": -305}
    assert csv_import.import_csv(api_client.tenant_id, None, text).created == 0
    assert count_txns(db, api_client.tenant_id) == 3


def test_csv_with_a_bad_amount_imports_nothing_and_names_the_line(api_client, db):
    text = "date,description,amount\n2025-01-02,Ok,-1.00\n2025-01-03,Bad,12.345\n"
    with pytest.raises(ValidationError) as err:
        csv_import.import_csv(api_client.tenant_id, None, text)
    assert "line 3" in err.value.fields
    assert count_txns(db, api_client.tenant_id) == 0


def test_csv_without_the_needed_columns_is_rejected(api_client):
    with pytest.raises(ValidationError):
        csv_import.import_csv(api_client.tenant_id, None, "when,what\n2025-01-01,x\n")


@pytest.mark.parametrize("text, cents", [("12.34", 1234), ("-0.5", -50), ("(1,000)", -100000), ("$7", 700),
                                         ("1,234,567.89", 123456789)])
def test_amounts_become_exact_integer_cents(text, cents):
    assert csv_import.amount_to_cents(text) == cents
