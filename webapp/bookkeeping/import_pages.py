"""Importing a CSV statement from the workspace: read it and show a preview, then import what was shown.

The preview lists the columns and the date format found and the first rows as they will be booked; a
file whose dates read both ways (03/04/2025) asks which comes first. The statement's text travels in
the preview form, so the server keeps nothing between the two steps.
"""
from __future__ import annotations

from flask import request
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.bookkeeping import bp, csv_import
from webapp.bookkeeping.csv_dates import DATE_ORDERS, DateOrder
from webapp.bookkeeping.pages import answer, refused_on_workspace
from webapp.bookkeeping.services import get_active_company
from webapp.bookkeeping.workspace import Feedback, StatementPreview
from webapp.errors import ValidationError
from webapp.input_policy import shows_refused_input

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a CSV statement; MAX_CONTENT_LENGTH (the whole body) is set above it
STATEMENT_FIELDS = ("csv_file", "csv_text", "statement")  # upload, paste, the previewed text carried along
OUT_POSITIVE = "out_positive"  # the amount_sign choice for card statements that list purchases as positive


def _statement_field() -> str:
    """Which field the statement comes from: a chosen file, else the paste box, else the previewed text."""
    upload = request.files.get("csv_file")
    if upload is not None and upload.filename:
        return "csv_file"
    return "statement" if request.form.get("statement") and not request.form.get("csv_text") else "csv_text"


def _statement(field: str) -> tuple[str, str]:
    """(where it came from, the CSV text) of the import form, at most MAX_UPLOAD_BYTES however it came."""
    too_large = {field: f"must be at most {MAX_UPLOAD_BYTES // 1024} KB"}
    if field == "csv_file":
        upload = request.files["csv_file"]
        raw = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            raise ValidationError("File too large.", too_large)
        return upload.filename or "your file", csv_import.decode_csv(raw)
    text = request.form.get(field, "")
    if not text.strip():
        raise ValidationError("Nothing to import.", {"csv_text": "is empty: paste CSV here or choose a file above"})
    if len(text.encode()) > MAX_UPLOAD_BYTES:
        raise ValidationError("Too much text.", too_large)
    source = request.form.get("source", "the pasted text") if field == "statement" else "the pasted text"
    return source[:200], text  # not stripped: line numbers in errors count the lines as pasted


def _out_positive() -> bool:
    """The preview's choice: in this file's Amount column, positive is money out (a card statement)."""
    return request.form.get("amount_sign") == OUT_POSITIVE


def _date_order() -> DateOrder | None:
    raw = request.form.get("date_format", "")
    return next((order for order in DATE_ORDERS if order == raw), None)


MAX_PROBLEMS_SHOWN = 20


def describe_problems(fields: dict[str, str]) -> str:
    """One readable sentence from a ValidationError's fields ("line 3 date: ..."), the first few if many."""
    parts = [problem if where in ("file", "transactions", *STATEMENT_FIELDS) else f"{where}: {problem}"
             for where, problem in list(fields.items())[:MAX_PROBLEMS_SHOWN]]
    if len(fields) > MAX_PROBLEMS_SHOWN:
        parts.append(f"and {len(fields) - MAX_PROBLEMS_SHOWN} more")
    return "; ".join(parts)


def _problems(exc: ValidationError, field: str) -> dict[str, str]:
    """The statement's problems, all next to the field it came from (the previewed text's: the file's)."""
    where = next((f for f in STATEMENT_FIELDS if f in exc.fields), field)
    return {"csv_file" if where == "statement" else where: describe_problems(exc.fields)}


@bp.post("/app/companies/<company_id>/import/preview")
@shows_refused_input(refused_on_workspace)
@login_required
def preview_import(company_id: str) -> Response:
    """Read a statement, uploaded or pasted, and show what importing it would book; nothing is stored."""
    get_active_company(current_user.tenant_id, company_id)
    field = _statement_field()
    try:
        source, text = _statement(field)
        statement = csv_import.read_statement(text, _date_order(), _out_positive())
    except ValidationError as exc:
        return answer(company_id, errors=_problems(exc, field), status=400)
    return answer(company_id, statement=StatementPreview(source, text, statement))


@bp.post("/app/companies/<company_id>/import")
@shows_refused_input(refused_on_workspace)
@login_required
def import_statement(company_id: str) -> Response:
    """Import a statement (the previewed one, or straight from the form); every problem is listed by its field."""
    field = _statement_field()
    try:
        source, text = _statement(field)
        result = csv_import.import_csv(current_user.tenant_id, company_id, text, _date_order(), _out_positive())
    except ValidationError as exc:
        if "date_format" in exc.fields:  # the dates read both ways: ask, beside the preview
            preview = StatementPreview(source, text, csv_import.read_statement(text, out_positive=_out_positive()))
            return answer(company_id, errors={"date_format": exc.fields["date_format"]}, status=400,
                          statement=preview)
        return answer(company_id, errors=_problems(exc, field), status=400)
    return answer(result.company_id, Feedback(import_notice(result.created, len(result.rows) - result.created),
                                              "import"))


def import_notice(created: int, again: int) -> str:
    """What an import did, counting the rows that were imported before and so changed nothing."""
    if not created:
        return ("Nothing new: the transaction was imported before." if again == 1
                else f"Nothing new: all {again} transactions were imported before.")
    return (f"Imported {created} new transaction{'' if created == 1 else 's'}"
            + (f" ({again} already there)." if again else "."))
