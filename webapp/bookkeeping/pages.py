"""The workspace pages (/app): thin session views over the bookkeeping services, metered by the same gate.

Every action answers htmx with the #workspace fragment and a plain form post with a 303 back to /app,
so the page works without JavaScript. Rejected input comes back as the fragment (or page) with each
error next to its field; paywall errors are left to the error handler, which shows the modal.
"""
from __future__ import annotations

import re

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.bookkeeping import bp, csv_import, posting, proposals, services
from webapp.bookkeeping.workspace import page_numbers, workspace_view
from webapp.error_handlers import is_htmx
from webapp.errors import Conflict, ValidationError
from webapp.extensions import db
from webapp.metering.gate import Action
from webapp.metering.guards import admit_ids

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


def _company_arg() -> str | None:
    return request.values.get("company") or None


def answer(company_id: str | None, notice: str | None = None, errors: dict[str, str] | None = None,
           status: int = 200) -> Response:
    """The workspace after an action: the fragment for htmx, a redirect (or the page with errors) otherwise."""
    if errors:
        db.session.rollback()  # nothing of a rejected form is kept
    view = workspace_view(current_user.tenant_id, company_id, notice, errors, dict(request.form),
                          page_numbers(request.values))
    if is_htmx():
        resp = make_response(render_template("bookkeeping/_workspace.html", ws=view, oob=True), status)
        if status >= 400:
            resp.headers["HX-Retarget"] = "#workspace"  # static/js/ui.js swaps errors that name their target
        return resp
    if errors:
        return make_response(render_template("bookkeeping/workspace.html", ws=view), status)
    if notice:
        flash(notice, "success")
    return redirect(url_for("bookkeeping.workspace", company=view.company.id, **view.page_numbers), code=303)


@bp.get("/app")
@login_required
def workspace() -> str:
    """The workspace: companies, import, transactions, proposals, ledger and trial balance."""
    view = workspace_view(current_user.tenant_id, _company_arg(), pages=page_numbers(request.args))
    return render_template("bookkeeping/workspace.html", ws=view)


@bp.post("/app/companies")
@login_required
def add_company() -> Response:
    """Add a company (402 COMPANY_LIMIT_REACHED past the plan's allowance shows the paywall)."""
    try:
        company = services.add_company(current_user.tenant_id, request.form.get("name", ""))
    except (ValidationError, Conflict) as exc:
        fields = exc.details.get("fields")
        if not isinstance(fields, dict):
            raise
        return answer(_company_arg(), errors={f"company_{k}": v for k, v in fields.items()}, status=exc.status)
    return answer(company.id, notice=f"Added {company.name}.")


def _statement() -> tuple[str, str]:
    """The CSV text of the import form and the field it came from (the file wins over the paste box)."""
    upload = request.files.get("csv_file")
    if upload is not None and upload.filename:
        raw = upload.read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            raise ValidationError("File too large.", {"csv_file": f"must be at most {MAX_UPLOAD_BYTES // 1024} KB"})
        try:
            return raw.decode("utf-8-sig"), "csv_file"
        except UnicodeDecodeError as exc:
            raise ValidationError("Not a text file.", {"csv_file": "must be a UTF-8 CSV file"}) from exc
    text = request.form.get("csv_text", "").strip()
    if not text:
        raise ValidationError("Nothing to import.", {"csv_text": "paste CSV here or choose a file above"})
    return text, "csv_text"


_ROW_FIELD = re.compile(r"^transactions\[(\d+)\]\.?(.*)$")


def describe_problems(fields: dict[str, str]) -> str:
    """One readable sentence from a ValidationError's fields, naming CSV lines (the header is line 1)."""
    parts = []
    for where, problem in fields.items():
        row = _ROW_FIELD.match(where)
        if row:
            where = f"line {int(row[1]) + 2}" + (f" {row[2]}" if row[2] else "")
        parts.append(problem if where in ("file", "transactions", "csv_file", "csv_text") else f"{where}: {problem}")
    return "; ".join(parts)


@bp.post("/app/import")
@login_required
def import_statement() -> Response:
    """Import a CSV bank statement, uploaded or pasted; every problem is listed next to the field."""
    field = "csv_text"
    try:
        text, field = _statement()
        result = csv_import.import_csv(current_user.tenant_id, _company_arg(), text)
    except ValidationError as exc:
        where = next((f for f in ("csv_file", "csv_text") if f in exc.fields), field)
        return answer(_company_arg(), errors={where: describe_problems(exc.fields)}, status=400)
    again = len(result.rows) - result.created
    return answer(result.company_id, notice=f"Imported {result.created} new transaction"
                  f"{'' if result.created == 1 else 's'}" + (f" ({again} already there)." if again else "."))


def _chosen(single: str, many: str) -> list[str]:
    """The ids a form names: one row's button, or the ticked boxes."""
    one = request.form.get(single)
    return [one] if one else request.form.getlist(many)


@bp.post("/app/propose")
@login_required
def propose() -> Response:
    """Propose entries for one transaction or a selection (metered: the free tier's 429 shows the modal)."""
    ids = _chosen("txn_id", "txn_ids")
    if not ids:
        return answer(_company_arg(), errors={"txn_ids": "Tick at least one transaction to propose."}, status=400)
    admit_ids(current_user.tenant_id, Action.PROPOSE, ids)
    entries = proposals.propose_entries(current_user.tenant_id, ids)
    return answer(_company_arg(), notice=f"Proposed {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}.")


@bp.post("/app/commit")
@login_required
def commit() -> Response:
    """Post one proposed entry or a selection (metered: 402 paywalls show the modal)."""
    ids = _chosen("je_id", "je_ids")
    if not ids:
        return answer(_company_arg(), errors={"je_ids": "Tick at least one proposal to commit."}, status=400)
    admit_ids(current_user.tenant_id, Action.COMMIT, ids)
    entries = posting.commit_entries(current_user.tenant_id, ids)
    return answer(_company_arg(), notice=f"Posted {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} "
                                         "to the ledger.")


@bp.post("/app/entries/<je_id>/account")
@login_required
def reassign(je_id: str) -> Response:
    """Change the account of a proposed entry before it is committed."""
    try:
        entry = proposals.reassign_account(current_user.tenant_id, je_id, request.form.get(f"account_{je_id}", ""))
    except ValidationError as exc:
        return answer(_company_arg(), errors={f"account_{je_id}": exc.fields.get("account_code", exc.message)},
                      status=400)
    return answer(entry.company_id, notice=f"{entry.memo}: now {entry.account.code} {entry.account.name}.")
