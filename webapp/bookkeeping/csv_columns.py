"""Which column of a bank export holds what: header aliases, and money as one column or two.

The header is the first of the opening lines that names a date, a description and the money: some
exports (a large US bank's checking CSV) put a few summary lines above it.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from webapp.errors import ValidationError

HEADER_SEARCH = 10  # lines from the top of the file in which the header row is looked for

# Field → the header names that mean it, in order of preference (first present wins).
ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "transaction date", "posting date", "post date", "posted date", "trans date"),
    "description": ("description", "transaction description", "details", "memo", "payee", "name", "narrative"),
    "amount": ("amount", "transaction amount"),
    "amount_cents": ("amount_cents",),
    "counterparty": ("counterparty", "payee", "name", "merchant"),
    "id": ("id", "transaction id", "fitid"),
}
# Money in two columns, (out, in): each holds a size, the column says its direction.
MONEY_PAIRS: tuple[tuple[str, str], ...] = (
    ("debit", "credit"), ("debit amount", "credit amount"), ("withdrawal", "deposit"),
    ("withdrawals", "deposits"), ("withdrawal amount", "deposit amount"), ("paid out", "paid in"),
    ("money out", "money in"),
)
FIELD_LABELS = {"date": "Date", "description": "Description", "counterparty": "Counterparty", "id": "Id"}


def _key(name: str) -> str:
    """A header cell as compared: case, punctuation and spacing ignored ("Trans. Date" → "trans date")."""
    return " ".join(re.sub(r"[^0-9a-z_]+", " ", name.casefold()).split())


@dataclass(frozen=True)
class ColumnMap:
    """Where each field is (`indexes`: field → column index) and what the file calls it (`names`)."""

    indexes: dict[str, int]
    names: dict[str, str]

    @property
    def money_out(self) -> str | None:
        """The money-out column's name when the money comes in two columns."""
        return self.names.get("money_out")

    @property
    def money_in(self) -> str | None:
        """The money-in column's name when the money comes in two columns."""
        return self.names.get("money_in")

    @property
    def amount_cents(self) -> str | None:
        """The amount_cents column's name, when the file has one."""
        return self.names.get("amount_cents")

    def described(self) -> list[tuple[str, str]]:
        """(what we read, from which column) for the preview: [("Date", "Posting Date"), ("Amount", …)]."""
        rows = [(FIELD_LABELS[f], self.names[f]) for f in ("date", "description") if f in self.names]
        if "amount" in self.names:
            rows.append(("Amount", self.names["amount"]))
        elif self.amount_cents:
            rows.append(("Amount", f"{self.amount_cents} (in cents)"))
        else:
            rows.append(("Amount", f"{self.money_out} as money out, {self.money_in} as money in"))
        rows += [(FIELD_LABELS[f], self.names[f]) for f in ("counterparty", "id") if f in self.names]
        return rows


def map_columns(cells: list[str]) -> ColumnMap | None:
    """The mapping of a header row, or None unless it names a date, a description and the money."""
    keys = [_key(c) for c in cells]
    position: dict[str, int] = {}
    for i, key in enumerate(keys):
        position.setdefault(key, i)
    indexes: dict[str, int] = {}
    for name, aliases in ALIASES.items():
        taken = set(indexes.values())
        found = next((position[a] for a in aliases if a in position and position[a] not in taken), None)
        if found is not None:
            indexes[name] = found
    if "amount" not in indexes and "amount_cents" not in indexes:
        pair = next(((o, i) for o, i in MONEY_PAIRS if o in position and i in position), None)
        if pair is not None:
            indexes["money_out"], indexes["money_in"] = position[pair[0]], position[pair[1]]
    has_money = bool({"amount", "amount_cents", "money_out"} & indexes.keys())
    if "date" not in indexes or "description" not in indexes or not has_money:
        return None
    return ColumnMap(indexes, {name: cells[i].strip() for name, i in indexes.items()})


def find_header(records: Iterator[tuple[int, list[str]]]) -> tuple[ColumnMap, int]:
    """Consume records up to and including the header row; 400 on `file` if none of the first lines is one."""
    first: list[str] | None = None
    for seen, (line, cells) in enumerate(records, start=1):
        first = cells if first is None else first
        columns = map_columns(cells)
        if columns is not None:
            return columns, line
        if seen >= HEADER_SEARCH:
            break
    names = ", ".join(c.strip() for c in first or [] if c.strip()) or "nothing"
    raise ValidationError("The CSV header is missing columns.", {
        "file": "the header row must name the columns date, description and amount (or Debit and Credit, "
                f"Withdrawal and Deposit, Paid out and Paid in); the first row names {names}"})
