"""Importing transactions: client ids unique per company, idempotent re-import, exact cents, one 400 for bad input."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import signup_api_client
from tests.factories import set_plan, txn_rows
from webapp.bookkeeping import accounts, csv_dates, csv_import
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
    assert list(err.value.fields) == ["line 3 amount"] and "like -12.34" in err.value.fields["line 3 amount"]
    assert count_txns(db, api_client.tenant_id) == 0


def csv_problems(text: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as err:
        csv_import.read_csv(text)
    return err.value.fields


def test_csv_reports_every_problem_of_every_line_in_one_pass():
    text = ("date,description,amount\n"
            "2025-01-02,Bad amount,twelve\n"
            "13/15/2025,Bad date,-1.00\n"
            "2025-01-04,,-1.00\n"
            "2025-02-30,,abc\n")
    assert csv_problems(text) == {
        "line 2 amount": csv_import.AMOUNT_HELP,
        "line 3 date": csv_dates.DATE_HELP,
        "line 4 description": "is required",
        "line 5 description": "is required",
        "line 5 date": csv_dates.DATE_HELP,
        "line 5 amount": csv_import.AMOUNT_HELP,
    }


def test_csv_line_numbers_count_blank_lines_and_quoted_multi_line_fields():
    text = ("\n"
            "date,description,amount\n"                 # line 2
            '2025-01-02,"Wire from\nAcme, Inc.",10.00\n'  # lines 3-4
            "\n"                                         # line 5
            ",,\n"                                       # line 6: an empty row, skipped like a blank line
            "2025-01-03,Bad,1.2.3\n")                    # line 7
    assert list(csv_problems(text)) == ["line 7 amount"]


def test_a_repeated_csv_id_names_the_line_it_repeats_not_an_internal_field():
    text = "id,date,description,amount\nb1,2025-01-02,A,1\nb2,2025-01-02,B,1\nb1,2025-01-03,C,2\n"
    assert csv_problems(text) == {"line 4 id": "repeats line 2"}


@pytest.mark.parametrize("text, problem", [
    ("when,what\n2025-01-01,x\n", "must name the columns date, description and amount"),
    ("date,description,amount\n", "has a header row but no transactions"),
    ("date,description,amount\n2025-01-02,\"" + "x" * 200_000 + "\",1\n", "line 2 cannot be read as CSV"),
])
def test_an_unreadable_csv_is_a_400_on_the_file_not_a_500(text, problem):
    fields = csv_problems(text)
    assert list(fields) == ["file"] and problem in fields["file"]


def test_too_many_csv_rows_is_one_400():
    rows = "".join(f"2025-01-02,Row {i},1.00\n" for i in range(csv_import.MAX_IMPORT + 1))
    assert csv_problems("date,description,amount\n" + rows) == {"file": "at most 1000 rows per upload"}


NO_IDS = ("date,description,amount,counterparty\n"
          "2025-01-02,Coffee beans,-12.50,Blue Bottle\n"
          "2025-01-03,Client payment,\"1,234.56\",Acme\n"
          "2025-01-04,Bank fee,-3.00,\n")


def test_reimporting_a_csv_without_ids_changes_nothing(api_client, db):
    first = csv_import.import_csv(api_client.tenant_id, None, NO_IDS)
    again = csv_import.import_csv(api_client.tenant_id, None, NO_IDS)
    assert (first.created, again.created) == (3, 0)
    assert [t.id for t, _ in again.rows] == [t.id for t, _ in first.rows]
    assert all(t.client_id.startswith("csv_") for t, _ in first.rows)
    assert count_txns(db, api_client.tenant_id) == 3


def test_an_overlapping_csv_without_ids_adds_only_the_new_rows(api_client, db):
    csv_import.import_csv(api_client.tenant_id, None, NO_IDS)
    overlap = ("Date,Description,Amount,Counterparty,Balance\n"   # another export: other case, extra column
               "2025-01-03,client   PAYMENT,1234.56,ACME,9000\n"    # the same row, spelt differently
               "2025-01-04,Bank fee,(3.00),,8997\n"
               "2025-01-05,Printer paper,-20.00,Staples,8977\n")
    result = csv_import.import_csv(api_client.tenant_id, None, overlap)
    assert result.created == 1 and [new for _, new in result.rows] == [False, False, True]
    assert count_txns(db, api_client.tenant_id) == 4


def test_identical_rows_in_one_csv_stay_two_transactions_and_are_not_added_again(api_client, db):
    text = "date,description,amount\n2025-01-02,ATM withdrawal,-40.00\n2025-01-02,ATM withdrawal,-40.00\n"
    assert csv_import.import_csv(api_client.tenant_id, None, text).created == 2
    assert csv_import.import_csv(api_client.tenant_id, None, text).created == 0
    third = text + "2025-01-02,ATM withdrawal,-40.00\n"  # a later export with a third such withdrawal
    assert csv_import.import_csv(api_client.tenant_id, None, third).created == 1
    assert count_txns(db, api_client.tenant_id) == 3


def test_the_json_import_without_ids_still_creates_every_time(api_client, db):
    row = {"date": "2025-01-02", "description": "No id", "amount_cents": -100}
    for _ in range(2):
        assert api_client.post("/api/transactions", json={"transactions": [row]}).status_code == 201
    assert count_txns(db, api_client.tenant_id) == 2


def test_derived_ids_ignore_case_and_spacing_but_not_the_amount_date_or_counterparty():
    base = "date,description,amount,counterparty\n"
    ids = [csv_import.read_csv(base + row)[0]["id"] for row in (
        "2025-01-02,Coffee  Beans,-12.50,Blue Bottle\n", "2025-01-02,coffee beans,(12.50),BLUE BOTTLE\n",
        "2025-01-02,Coffee beans,-12.51,Blue Bottle\n", "2025-01-03,Coffee beans,-12.50,Blue Bottle\n",
        "2025-01-02,Coffee beans,-12.50,\n")]
    assert ids[0] == ids[1] and len(set(ids)) == 4 and all(len(i) <= 64 for i in ids)


@pytest.mark.parametrize("raw, text", [
    ("Caf\u00e9 Mocha \u2013 \u20ac5".encode("cp1252"), "Caf\u00e9 Mocha \u2013 \u20ac5"),
    ("\ufeffCaf\u00e9".encode("utf-8"), "Caf\u00e9"),
    ("Caf\u00e9".encode("utf-8"), "Caf\u00e9"),
])
def test_an_upload_is_read_as_utf8_and_else_as_windows_1252(raw, text):
    assert csv_import.decode_csv(raw) == text


@pytest.mark.parametrize("raw", ["date,description\n".encode("utf-16"), b"\x81\x8d\x8f\x90\x9d", b"PK\x03\x04\x00"])
def test_an_upload_that_is_not_text_is_a_400_on_the_file(raw):
    with pytest.raises(ValidationError) as err:
        csv_import.decode_csv(raw)
    assert "UTF-8 or Windows-1252" in err.value.fields["file"]


def test_csv_without_the_needed_columns_is_rejected(api_client):
    with pytest.raises(ValidationError):
        csv_import.import_csv(api_client.tenant_id, None, "when,what\n2025-01-01,x\n")


@pytest.mark.parametrize("text, cents", [("12.34", 1234), ("-0.5", -50), ("(1,000)", -100000), ("$7", 700),
                                         ("1,234,567.89", 123456789), ("1,234.50", 123450), ("(12.50)", -1250),
                                         ("12.50-", -1250), ("\u221212.50", -1250), ("$1,234.50", 123450),
                                         ("-$3.05", -305), ("$-3.05", -305), ("($12.50)", -1250), ("+4", 400),
                                         (" .05 ", 5)])
def test_amounts_become_exact_integer_cents(text, cents):
    assert csv_import.amount_to_cents(text) == cents


@pytest.mark.parametrize("text", ["", "-", "$", "twelve", "12.345", "1,23", "1.2.3", "--1", "-(1)", "1-2",
                                  "-1-", "(1", "1)", "\u0661\u0662", "12 34", "\u20ac12"])
def test_text_that_is_not_a_money_amount_is_refused(text):
    with pytest.raises(ValueError):
        csv_import.amount_to_cents(text)


@pytest.mark.parametrize("ids", [["txn_a", "client-b"], ["client-b"]], ids=["many", "one"])
def test_finding_transactions_by_id_or_client_id_reads_indexes_not_the_tenants_whole_history(app, db, backend, ids):
    if backend != "sqlite":
        pytest.skip("SQLite's plan is deterministic on an empty table; PostgreSQL's planner picks by size")
    from sqlalchemy import event

    from webapp.bookkeeping.transactions import count_distinct_transactions

    sent: list[tuple[str, object]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", grab)
    try:
        count_distinct_transactions("tenant_x", ids)  # one id has its own statement (id = ?, not IN)
    finally:
        event.remove(db.engine, "before_cursor_execute", grab)
    [(statement, parameters)] = sent
    with db.engine.connect() as conn:
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
    # Each side of the UNION is an index search by id or by client id; the old `tenant_id = ? AND (id IN …
    # OR client_id IN …)` planned as `SEARCH transactions USING INDEX … (tenant_id=?)`: the tenant's history.
    assert plan and not any(p.endswith("(tenant_id=?)") or p.startswith("SCAN transactions") for p in plan), plan
    # Each transaction's entry (for its status) is found by the unique index on txn_id, not by reading entries.
    assert any(p.startswith("SEARCH journal_entries") and "(txn_id=?)" in p for p in plan), plan
    assert not any(p.startswith("SCAN journal_entries") for p in plan), plan


def test_a_transaction_read_for_the_gate_and_the_proposer_has_every_column_of_its_row_in_table_order_then_its_entry_status():
    """NamedTransaction is made from the row of `SELECT <every column of transactions>, <its entry's status>`
    by position."""
    from webapp.bookkeeping.transactions import NamedTransaction
    from webapp.models import Transaction

    assert NamedTransaction._fields == (*(column.name for column in Transaction.__table__.c), "entry_status")
