"""Real bank exports: header aliases, money in one column or two, dates decided per file, summary lines."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from webapp.bookkeeping import csv_import
from webapp.bookkeeping.csv_dates import DMY, ISO, MDY
from webapp.errors import ValidationError
from webapp.models import Transaction

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return csv_import.decode_csv((SAMPLES / name).read_bytes())


def imported(db, tenant_id: str) -> dict[str, tuple[str, int]]:
    rows = db.session.execute(select(Transaction.description, Transaction.date, Transaction.amount_cents)
                              .where(Transaction.tenant_id == tenant_id))
    return {d: (day.isoformat(), cents) for d, day, cents in rows}


def test_a_large_us_banks_checking_export_imports_with_us_dates_and_signed_amounts(api_client, db):
    statement = csv_import.read_statement(sample("us_bank_checking.csv"))
    assert statement.date_order == MDY and statement.columns.names["date"] == "Posting Date"
    assert statement.columns.names["description"] == "Description"  # not "Details" (DEBIT/CREDIT)
    result = csv_import.import_csv(api_client.tenant_id, None, sample("us_bank_checking.csv"))
    assert result.created == 7
    rows = imported(db, api_client.tenant_id)
    assert rows["MONTHLY SERVICE FEE"] == ("2025-01-31", -1500)
    assert rows["CHECK 1042"] == ("2025-01-14", -25000)
    assert rows["REMOTE ONLINE DEPOSIT #          1"] == ("2025-01-27", 50000)
    assert sum(cents for _, cents in rows.values()) == -1500 + 50000 - 8900 - 25000 - 180000 + 125000 - 8420
    assert csv_import.import_csv(api_client.tenant_id, None, sample("us_bank_checking.csv")).created == 0


def test_a_us_card_issuers_export_reads_debit_as_money_out_and_credit_as_money_in(api_client, db):
    statement = csv_import.read_statement(sample("us_card.csv"))
    assert statement.date_order == ISO and statement.columns.names["date"] == "Transaction Date"
    assert (statement.columns.money_out, statement.columns.money_in) == ("Debit", "Credit")
    assert csv_import.import_csv(api_client.tenant_id, None, sample("us_card.csv")).created == 7
    rows = imported(db, api_client.tenant_id)
    assert rows["STAPLES, INC. #1042"] == ("2025-01-24", -108420)
    assert rows["CAPITAL ONE AUTOPAY PYMT"] == ("2025-01-15", 50000)
    assert rows["ADOBE REFUND"] == ("2025-01-28", 5999)
    assert rows["UBER   *TRIP"] == ("2025-01-08", -2375)


def test_a_uk_banks_export_reads_day_first_dates_and_debit_credit_amount_columns(api_client, db):
    statement = csv_import.read_statement(sample("uk_bank.csv"))
    assert statement.date_order == DMY and statement.columns.names["description"] == "Transaction Description"
    assert csv_import.import_csv(api_client.tenant_id, None, sample("uk_bank.csv")).created == 7
    rows = imported(db, api_client.tenant_id)
    assert rows["TESCO STORES 2041 CD 4521"] == ("2025-01-02", -2345)
    assert rows["ACME LTD INV 0042"] == ("2025-01-03", 150000)
    assert rows["SMITH PROPERTIES RENT"] == ("2025-01-13", -95000)


AMBIGUOUS = "Date,Description,Amount\n03/04/2025,Coffee,-4.50\n05/06/2025,Client,100.00\n"


def test_dates_that_read_both_ways_are_asked_about_not_guessed():
    statement = csv_import.read_statement(AMBIGUOUS)
    assert statement.needs_date_order and statement.date_orders_possible == (MDY, DMY) and statement.rows == []
    with pytest.raises(ValidationError) as err:
        csv_import.read_csv(AMBIGUOUS)
    assert list(err.value.fields) == ["date_format"]
    assert [r["date"] for r in csv_import.read_csv(AMBIGUOUS, DMY)] == ["2025-04-03", "2025-06-05"]
    assert [r["date"] for r in csv_import.read_csv(AMBIGUOUS, MDY)] == ["2025-03-04", "2025-05-06"]


def test_one_unambiguous_date_decides_the_whole_file():
    rows = csv_import.read_csv(AMBIGUOUS + "13/06/2025,Rent,-900.00\n")
    assert [r["date"] for r in rows] == ["2025-04-03", "2025-06-05", "2025-06-13"]


def test_dates_that_fit_neither_order_are_line_errors():
    text = "Date,Description,Amount\n01/31/2025,A,-1.00\n31/01/2025,B,-1.00\n02/30/2025,C,-1.00\n"
    with pytest.raises(ValidationError) as err:
        csv_import.read_csv(text)
    assert set(err.value.fields) == {"line 3 date", "line 4 date"}


def test_summary_lines_above_the_header_and_balance_rows_without_an_amount_are_skipped():
    text = ('Description,,Summary Amt.\n'
            'Beginning balance as of 01/01/2025,,"12,345.67"\n'
            'Ending balance as of 01/31/2025,,"14,135.22"\n'
            '\n'
            'Date,Description,Amount,Running Bal.\n'
            '01/01/2025,Beginning balance as of 01/01/2025,,"12,345.67"\n'
            '01/02/2025,"STAPLES 0012 NEW YORK NY",-84.20,"12,261.47"\n'
            '01/15/2025,"Zelle payment from NORTHWIND",1250.00,"13,511.47"\n')
    statement = csv_import.read_statement(text)
    assert statement.header_line == 5 and [line for line, _ in statement.skipped] == [6]
    assert [(r["date"], r["amount_cents"]) for r in statement.rows] == [("2025-01-02", -8420), ("2025-01-15", 125000)]


def test_withdrawal_and_deposit_columns_and_a_payee_column_as_counterparty():
    text = ("Post Date,Memo,Payee,Withdrawal,Deposit\n"
            "2025-02-01,POS 1234,Staples,12.50,\n"
            "2025-02-02,ACH CREDIT,Northwind,,300.00\n"
            "2025-02-03,POS 9,Uber,0.00,\n")
    with pytest.raises(ValidationError) as err:
        csv_import.read_csv(text)
    assert err.value.fields == {"line 4 Withdrawal": "must be non-zero and at most 10000000000000 in size"}
    rows = csv_import.read_csv(text.replace("0.00,\n", "9.00,\n"))
    assert [(r["description"], r.get("counterparty"), r["amount_cents"]) for r in rows] == [
        ("POS 1234", "Staples", -1250), ("ACH CREDIT", "Northwind", 30000), ("POS 9", "Uber", -900)]


def test_a_row_with_money_both_out_and_in_is_refused():
    with pytest.raises(ValidationError) as err:
        csv_import.read_csv("Date,Description,Paid out,Paid in\n2025-01-02,Odd,5.00,6.00\n")
    assert "a row is one or the other" in err.value.fields["line 2 amount"]


@pytest.mark.parametrize("header", ["Date,Description,Amount", "Posting Date,Details,Amount",
                                    "Transaction Date,Name,Amount", "POST DATE,PAYEE,AMOUNT",
                                    "Trans. Date,Memo,Transaction Amount"])
def test_header_aliases_map_to_date_description_and_amount(header):
    rows = csv_import.read_csv(f"{header}\n2025-03-01,Coffee,-4.50\n")
    assert rows[0]["description"] == "Coffee" and rows[0]["amount_cents"] == -450 and rows[0]["date"] == "2025-03-01"


CARD_POSITIVE = ("Date,Description,Card Member,Account #,Amount\n"
                 "01/03/2025,ADOBE CREATIVE CLOUD,DANA FISHER,-41005,59.99\n"
                 "01/15/2025,AUTOPAY PAYMENT - THANK YOU,DANA FISHER,-41005,-500.00\n")


def test_a_card_statement_listing_purchases_as_positive_is_read_the_other_way_round_when_asked():
    as_is = csv_import.read_statement(CARD_POSITIVE)
    assert as_is.signed_amounts and [r["amount_cents"] for r in as_is.rows] == [5999, -50000]
    flipped = csv_import.read_csv(CARD_POSITIVE, out_positive=True)
    assert [r["amount_cents"] for r in flipped] == [-5999, 50000]
    assert flipped[0]["id"] != as_is.rows[0]["id"]  # another reading is another transaction
    two_columns = csv_import.read_statement(sample("uk_bank.csv"), out_positive=True)
    assert not two_columns.signed_amounts and two_columns.rows[-1]["amount_cents"] == -2345  # columns say it
