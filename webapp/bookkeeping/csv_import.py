"""CSV bank statements: read into the same rows the JSON import takes, then imported all or nothing.

Real exports differ: the header may sit under a few summary lines, columns have bank-specific names
(`Posting Date`, `Transaction Description`, `Paid out`…), money may come as one signed amount or as
two columns (Debit/Credit, Withdrawal/Deposit), and dates as YYYY-MM-DD, MM/DD/YYYY or DD/MM/YYYY.
`read_statement` finds the header, maps the columns (`csv_columns.py`) and decides the date order once
per file; when every date reads both ways (03/04/2025) it asks instead of guessing.

Most bank exports carry no transaction id, so a row without one gets an id derived from what it says
(`derived_id`): importing the same statement again, or one that overlaps it, adds only the new rows.
Problems are reported per line (the line the record starts on, as an editor numbers it), all at once.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from webapp.bookkeeping.csv_columns import ColumnMap, find_header
from webapp.bookkeeping.csv_dates import DATE_HELP, DateOrder, decide_order, first_slashed, parse_date
from webapp.bookkeeping.transactions import MAX_IMPORT, ImportResult, NewTransaction, check_row, import_transactions
from webapp.errors import ValidationError

DERIVED_ID_PREFIX = "csv_"
PREVIEW_ROWS = 5
MINUS = "-\u2212"  # ASCII hyphen-minus and the Unicode minus sign some exports use
# "1,234.56", "-12.5", "(12.50)" (accountants' negative), "12.50-" (trailing minus), "$3", "-$3", "−3".
_M = re.escape(MINUS)
_AMOUNT = re.compile(rf"^(?P<open>\()?\s*(?P<sign>[+{_M}])?\s*\$?\s*(?P<sign2>[{_M}])?\s*"
                     r"(?P<whole>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.(?P<frac>[0-9]{1,2}))?"
                     rf"\s*(?P<trail>[{_M}])?\s*(?P<close>\))?$")
_CENTS = re.compile(r"^[+-]?[0-9]{1,16}$")
AMOUNT_HELP = "is not a money amount like -12.34, 1,234.50, (12.50), 12.50- or $12.34"


def amount_to_cents(text: str) -> int:
    """Parse a decimal money amount into integer cents, exactly (never through float); ValueError if it is not one."""
    match = _AMOUNT.match(text.strip())
    if match is None or bool(match["open"]) != bool(match["close"]) or not (match["whole"] or match["frac"]):
        raise ValueError(text)
    minus_signs = [m for m in (match["sign"], match["sign2"], match["trail"]) if m and m in MINUS]
    if (match["sign"] and match["sign2"]) or len(minus_signs) + bool(match["open"]) > 1:
        raise ValueError(text)  # two signs: "-(1)", "-1-", "+-1"
    cents = int((match["whole"] or "0").replace(",", "")) * 100 + int((match["frac"] or "0").ljust(2, "0"))
    return -cents if minus_signs or match["open"] else cents


def decode_csv(raw: bytes) -> str:
    """The text of an uploaded statement: UTF-8 (a BOM is dropped), else Windows-1252, as older exports are."""
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:  # NUL bytes: UTF-16 or a binary file, never a CSV
            return text
    raise ValidationError("Not a text file.", {"file": "must be a CSV file in UTF-8 or Windows-1252 text"})


def _normalised(text: str | None) -> str:
    return " ".join((text or "").casefold().split())


def _identity(row: NewTransaction) -> tuple[str, ...]:
    """What makes two rows the same transaction: date, cents, description and counterparty (case and spacing
    ignored)."""
    return (row.date.isoformat(), str(row.amount_cents), _normalised(row.description), _normalised(row.counterparty))


def derived_id(row: NewTransaction, occurrence: int) -> str:
    """A stable id for a row without one: its identity and how many identical rows came before it in the
    file, so two identical rows stay two."""
    return DERIVED_ID_PREFIX + hashlib.sha256("\x1f".join((*_identity(row), str(occurrence))).encode()).hexdigest()[:24]


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank record with the line it starts on (quoted fields may span lines); a record the csv
    module cannot read is a 400 naming its line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a quote left open runs a field past the csv module's size limit
            raise ValidationError("The file is not a readable CSV.",
                                  {"file": f"line {start} cannot be read as CSV ({exc})"}) from exc
        if any(cell.strip() for cell in cells):  # skip blank lines and all-empty rows such as ",,,"
            yield start, cells


@dataclass(frozen=True)
class RawRow:
    """One data record's cells for each mapped field, before any of them is checked."""

    line: int
    values: dict[str, str]


def _amount(columns: ColumnMap, values: dict[str, str]) -> tuple[str, int | None, str | None]:
    """(column, cents or None, problem or None) of one row's amount, as far as reading the text goes."""
    if columns.amount_cents is not None and values.get("amount_cents"):
        text = values["amount_cents"]
        if not _CENTS.match(text):
            return "amount_cents", None, "must be a whole number of cents, like -1234"
        return "amount_cents", int(text), None
    if columns.money_out is not None:  # two columns: money out and money in, each a size
        out, into = values.get("money_out", ""), values.get("money_in", "")
        if out and into and not (_is_zero(out) or _is_zero(into)):
            return "amount", None, (f"has both {columns.money_out} ({out}) and {columns.money_in} ({into}); "
                                    "a row is one or the other")
        column, text, sign = ((columns.money_in, into, 1) if into and not (out and _is_zero(into))
                              else (columns.money_out, out, -1))
        try:
            return column, sign * abs(amount_to_cents(text)), None
        except ValueError:
            return column, None, AMOUNT_HELP
    try:
        return "amount", amount_to_cents(values.get("amount", "")), None
    except ValueError:
        return "amount", None, AMOUNT_HELP


def _is_zero(text: str) -> bool:
    try:
        return amount_to_cents(text) == 0
    except ValueError:
        return False


def _check_line(raw: RawRow, columns: ColumnMap, order: DateOrder | None, out_positive: bool,
                problems: dict[str, str]) -> NewTransaction | None:
    """One CSV record as a checked transaction; its problems go under "line N column"."""
    values = raw.values
    column, cents, amount_problem = _amount(columns, values)
    if out_positive and cents is not None and column == "amount":
        cents = -cents  # a card statement listing purchases as positive amounts
    fields: dict[str, object] = {k: values[k] for k in ("id", "description", "counterparty") if values.get(k)}
    day = parse_date(values.get("date", ""), order)
    fields["date"] = day.isoformat() if day else ""
    if cents is not None:
        fields["amount_cents"] = cents

    def at(name: str) -> str:
        return f"line {raw.line} {column if name == 'amount_cents' else name}"

    row = check_row(fields, f"line {raw.line}", problems, key=at)
    if day is None:  # the CSV's own words for a date, in place of the JSON import's
        problems[at("date")] = "is required" if not values.get("date") else DATE_HELP
    if amount_problem:
        problems[at("amount_cents")] = amount_problem
    return row


@dataclass
class Statement:
    """A statement read and checked: the mapping found, the date order used, the rows, what was skipped.

    `date_order` is None when the dates read both ways and the person has not chosen (`needs_date_order`).
    """

    columns: ColumnMap
    header_line: int
    date_order: DateOrder | None
    date_orders_possible: tuple[DateOrder, ...]
    date_sample: str | None = None
    out_positive: bool = False
    rows: list[dict[str, object]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, why): summary and balance lines

    @property
    def needs_date_order(self) -> bool:
        """True when the dates read both ways (03/04/2025) and nobody said which."""
        return self.date_order is None and len(self.date_orders_possible) > 1

    @property
    def signed_amounts(self) -> bool:
        """True when the money is one signed column, whose sign convention the person may turn round."""
        return "amount" in self.columns.names and not self.columns.amount_cents

    @property
    def preview(self) -> list[dict[str, object]]:
        """The first rows, as they will be imported."""
        return self.rows[:PREVIEW_ROWS]


def _raw_rows(records: Iterator[tuple[int, list[str]]], columns: ColumnMap,
              skipped: list[tuple[int, str]]) -> list[RawRow]:
    """The data records as mapped cells; a record without any amount (a balance line) is skipped and noted."""
    out: list[RawRow] = []
    for line, cells in records:
        if len(out) >= MAX_IMPORT:
            raise ValidationError("Too many transactions.", {"file": f"at most {MAX_IMPORT} rows per upload"})
        values = {name: cells[i].strip() if i < len(cells) else "" for name, i in columns.indexes.items()}
        if not any(values.get(k) for k in ("amount", "amount_cents", "money_out", "money_in")):
            what = values.get("description") or " ".join(c.strip() for c in cells if c.strip())
            skipped.append((line, f"no amount ({what[:80]})"))
            continue
        out.append(RawRow(line, values))
    return out


def read_statement(text: str, date_order: DateOrder | None = None, out_positive: bool = False) -> Statement:
    """Read CSV text into import rows, each with an id; one 400 lists every problem.

    `date_order` decides MM/DD against DD/MM when the person chose; otherwise the file decides, and a
    file whose dates read both ways comes back with `needs_date_order` and no rows. `out_positive`
    reads a signed Amount column the card-statement way round: positive is money out.
    """
    records = _records(text)
    columns, header_line = find_header(records)
    skipped: list[tuple[int, str]] = []
    raws = _raw_rows(records, columns, skipped)
    if not raws:
        raise ValidationError("Nothing to import.", {"file": "has a header row but no transactions"})
    dates = [r.values.get("date", "") for r in raws]
    possible = decide_order(dates)
    order = date_order or (possible[0] if len(possible) == 1 else None)
    statement = Statement(columns, header_line, order, possible, first_slashed(dates), out_positive, skipped=skipped)
    if statement.needs_date_order:
        return statement
    problems: dict[str, str] = {}
    id_lines: dict[str, int] = {}
    occurrences: Counter[tuple[str, ...]] = Counter()
    for raw in raws:
        row = _check_line(raw, columns, order, out_positive, problems)
        if row is None:
            continue
        client_id = row.client_id
        if client_id is None:
            same = _identity(row)
            client_id = derived_id(row, occurrences[same])
            occurrences[same] += 1
        elif client_id in id_lines:
            problems[f"line {raw.line} id"] = f"repeats line {id_lines[client_id]}"
            continue
        id_lines.setdefault(client_id, raw.line)
        statement.rows.append({"id": client_id, "date": row.date.isoformat(), "description": row.description,
                               "amount_cents": row.amount_cents,
                               **({"counterparty": row.counterparty} if row.counterparty else {})})
    if problems:
        raise ValidationError("Some CSV lines are invalid; nothing was imported.", problems)
    return statement


DATE_ORDER_QUESTION = "reads both ways (like 03/04/2025): choose whether the month or the day comes first"


def read_csv(text: str, date_order: DateOrder | None = None, out_positive: bool = False) -> list[dict[str, object]]:
    """The import rows of a statement; 400 on `date_format` when its dates read both ways and none was chosen."""
    statement = read_statement(text, date_order, out_positive)
    if statement.needs_date_order:
        raise ValidationError("Choose the date format.", {"date_format": DATE_ORDER_QUESTION})
    return statement.rows


def import_csv(tenant_id: str, company_id: str | None, text: str, date_order: DateOrder | None = None,
               out_positive: bool = False) -> ImportResult:
    """Import a CSV bank statement through POST /api/transactions' path (same ids, same idempotence)."""
    return import_transactions(tenant_id, company_id, read_csv(text, date_order, out_positive))
