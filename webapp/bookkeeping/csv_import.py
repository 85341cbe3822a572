"""CSV bank statements: read into the same rows the JSON import takes, then imported all or nothing."""
from __future__ import annotations

import csv
import io
import re

from webapp.bookkeeping.transactions import MAX_IMPORT, ImportResult, import_transactions
from webapp.errors import ValidationError

REQUIRED = ("date", "description")
OPTIONAL = ("id", "counterparty", "amount", "amount_cents")
# "1,234.56", "-12.5", "(12.50)" (accountants' negative), "$3"; never parsed through float.
_AMOUNT = re.compile(r"^(?P<neg>-)?\$?(?P<whole>\d{1,3}(?:,\d{3})*|\d+)(?:\.(?P<frac>\d{1,2}))?$")


def amount_to_cents(text: str) -> int:
    """Parse a decimal money amount into integer cents, exactly; ValueError if it is not one."""
    value = text.strip()
    negative = value.startswith("(") and value.endswith(")")
    if negative:
        value = value[1:-1].strip()
    match = _AMOUNT.match(value)
    if match is None:
        raise ValueError(text)
    cents = int(match["whole"].replace(",", "")) * 100 + int((match["frac"] or "0").ljust(2, "0"))
    return -cents if negative or match["neg"] else cents


def read_csv(text: str) -> list[dict[str, object]]:
    """Turn CSV text with a header row into import rows; one 400 lists every bad row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing or not ({"amount", "amount_cents"} & set(header)):
        raise ValidationError("The CSV header must name date, description and amount (or amount_cents).",
                              {"file": f"header is {','.join(header) or 'empty'}"})
    rows: list[dict[str, object]] = []
    problems: dict[str, str] = {}
    for line_no, record in enumerate(reader, start=2):
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in record.items() if k is not None}
        row: dict[str, object] = {k: cells[k] for k in ("id", "date", "description", "counterparty") if cells.get(k)}
        try:
            if cells.get("amount_cents"):
                row["amount_cents"] = int(cells["amount_cents"])
            else:
                row["amount_cents"] = amount_to_cents(cells.get("amount", ""))
        except ValueError:
            problems[f"line {line_no}"] = "amount is not a money amount like 12.34 or -12.34"
        rows.append(row)
        if len(rows) > MAX_IMPORT:
            raise ValidationError("Too many transactions.", {"file": f"at most {MAX_IMPORT} rows per upload"})
    if problems:
        raise ValidationError("Some CSV lines are invalid; nothing was imported.", problems)
    return rows


def import_csv(tenant_id: str, company_id: str | None, text: str) -> ImportResult:
    """Import a CSV bank statement exactly like POST /api/transactions (same ids, same idempotence)."""
    return import_transactions(tenant_id, company_id, read_csv(text))
