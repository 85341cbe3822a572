"""CSV bank statements: read into the same rows the JSON import takes, then imported all or nothing.

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

from webapp.bookkeeping.transactions import MAX_IMPORT, ImportResult, NewTransaction, check_row, import_transactions
from webapp.errors import ValidationError

REQUIRED = ("date", "description")
COLUMNS = ("id", "date", "description", "counterparty", "amount", "amount_cents")
DERIVED_ID_PREFIX = "csv_"
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


def _records(reader: Iterator[list[str]], line_of: list[int]) -> Iterator[tuple[int, list[str]]]:
    """Each non-blank record with the line it starts on (quoted fields may span lines)."""
    while True:
        start = reader.line_num + 1  # type: ignore[attr-defined]
        line_of[0] = start  # where a record the csv module cannot read begins
        try:
            cells = next(reader)
        except StopIteration:
            return
        if any(cell.strip() for cell in cells):  # skip blank lines and all-empty rows such as ",,,"
            yield start, cells


def _header(records: Iterator[tuple[int, list[str]]]) -> dict[str, int]:
    """Column name → index (the first of a repeated name); 400 unless date, description and an amount are named."""
    _, cells = next(records, (1, []))
    names = [c.strip().lower() for c in cells]
    columns: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in COLUMNS:
            columns.setdefault(name, i)
    if any(c not in columns for c in REQUIRED) or not ({"amount", "amount_cents"} & set(columns)):
        raise ValidationError("The CSV header is missing columns.", {
            "file": "the first row must name the columns date, description and amount (or amount_cents); "
                    f"it names {', '.join(n for n in names if n) or 'nothing'}"})
    return columns


def _amount(values: dict[str, str]) -> tuple[str, int | None, str | None]:
    """(column, cents or None, problem or None) of one row's amount, as far as reading the text goes."""
    if values.get("amount_cents"):
        text = values["amount_cents"]
        if not _CENTS.match(text):
            return "amount_cents", None, "must be a whole number of cents, like -1234"
        cents = int(text)
        column = "amount_cents"
    else:
        column = "amount"
        if not values.get("amount"):
            return column, None, "is required"
        try:
            cents = amount_to_cents(values["amount"])
        except ValueError:
            return column, None, AMOUNT_HELP
    return column, cents, None  # zero and out-of-range amounts are check_row's to refuse


def _check_line(line: int, cells: list[str], columns: dict[str, int],
                problems: dict[str, str]) -> NewTransaction | None:
    """One CSV record as a checked transaction; its problems go under "line N column"."""
    values = {name: cells[i].strip() if i < len(cells) else "" for name, i in columns.items()}
    column, cents, amount_problem = _amount(values)
    raw: dict[str, object] = {k: values[k] for k in ("id", "date", "description", "counterparty") if values.get(k)}
    if cents is not None:
        raw["amount_cents"] = cents

    def at(name: str) -> str:
        return f"line {line} {column if name == 'amount_cents' else name}"

    row = check_row(raw, f"line {line}", problems, key=at)
    if amount_problem:  # the CSV's own words for the amount, in place of the JSON import's
        problems[at("amount_cents")] = amount_problem
    return row


def read_csv(text: str) -> list[dict[str, object]]:
    """Turn CSV text with a header row into import rows, each with an id; one 400 lists every problem."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    line_of = [1]
    records = _records(reader, line_of)
    problems: dict[str, str] = {}
    rows: list[dict[str, object]] = []
    id_lines: dict[str, int] = {}
    occurrences: Counter[tuple[str, ...]] = Counter()
    try:
        columns = _header(records)
        for count, (line, cells) in enumerate(records, start=1):
            if count > MAX_IMPORT:
                raise ValidationError("Too many transactions.", {"file": f"at most {MAX_IMPORT} rows per upload"})
            row = _check_line(line, cells, columns, problems)
            if row is None:
                continue
            client_id = row.client_id
            if client_id is None:
                same = _identity(row)
                client_id = derived_id(row, occurrences[same])
                occurrences[same] += 1
            elif client_id in id_lines:
                problems[f"line {line} id"] = f"repeats line {id_lines[client_id]}"
                continue
            id_lines.setdefault(client_id, line)
            rows.append({"id": client_id, "date": row.date.isoformat(), "description": row.description,
                         "amount_cents": row.amount_cents,
                         **({"counterparty": row.counterparty} if row.counterparty else {})})
    except csv.Error as exc:  # e.g. a quote left open runs a field past the csv module's size limit
        raise ValidationError("The file is not a readable CSV.",
                              {"file": f"line {line_of[0]} cannot be read as CSV ({exc})"}) from exc
    if problems:
        raise ValidationError("Some CSV lines are invalid; nothing was imported.", problems)
    if not rows:
        raise ValidationError("Nothing to import.", {"file": "has a header row but no transactions"})
    return rows


def import_csv(tenant_id: str, company_id: str | None, text: str) -> ImportResult:
    """Import a CSV bank statement through POST /api/transactions' path (same ids, same idempotence)."""
    return import_transactions(tenant_id, company_id, read_csv(text))
