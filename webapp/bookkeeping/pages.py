"""The workspace pages (/app): thin session views over the bookkeeping services, metered by the same gate.

Every action answers htmx with the #workspace fragment and a plain form post with a 303 back to /app,
so the page works without JavaScript. Rejected input comes back as the fragment (or page) with each
error next to its field; paywall errors are left to the error handler, which shows the modal.
"""
from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.bookkeeping import bp, csv_import, proposals, services, transactions
from webapp.bookkeeping.workspace import page_numbers, workspace_view
from webapp.error_handlers import is_htmx
from webapp.errors import Conflict, DomainError, NotFound, ValidationError
from webapp.extensions import db
from webapp.input_policy import shows_refused_input
from webapp.metering.gate import Action
from webapp.metering.guards import admit_ids

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a CSV statement; MAX_CONTENT_LENGTH (the whole body) is set above it


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


# Form field → the key its error is shown under on the workspace.
_ERROR_KEYS = {"name": "company_name", "txn_id": "txn_ids", "je_id": "je_ids"}


def refused_on_workspace(fields: dict[str, str]) -> Response | None:
    """The workspace with the input policy's refused fields marked next to them (None: not a workspace field)."""
    if not current_user.is_authenticated:
        return None
    errors = {_ERROR_KEYS.get(name, name): problem for name, problem in fields.items() 
              if name in request.form and name != "company"}
    if not errors:  # a refused query or path value: the error page names it
        return None
    company = None if "company" in fields else _company_arg()
    return answer(company, errors=errors, status=400)


STALE_CODES = frozenset({"ALREADY_POSTED", "NOT_FOUND"})


def stale_workspace(err: DomainError) -> str:
    """The fresh #workspace, swapped out of band beside the error modal, when a workspace action was refused
    because a row it named was posted or replaced meanwhile (say in another tab); "" otherwise."""
    if (request.blueprint != bp.name or request.method != "POST" or err.code not in STALE_CODES
            or not current_user.is_authenticated):
        return ""
    try:
        view = workspace_view(current_user.tenant_id, _company_arg(), pages=page_numbers(request.values))
    except NotFound:  # the company itself is gone: the modal alone says so
        return ""
    return render_template("bookkeeping/_workspace.html", ws=view, refresh_oob=True)


@bp.get("/app")
@login_required
def workspace() -> str:
    """The workspace: companies, import, transactions, proposals, ledger and trial balance."""
    view = workspace_view(current_user.tenant_id, _company_arg(), pages=page_numbers(request.args))
    return render_template("bookkeeping/workspace.html", ws=view)


@bp.post("/app/companies")
@shows_refused_input(refused_on_workspace)
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


def _statement_field() -> str:
    """Which field the statement comes from: the file wins over the paste box."""
    upload = request.files.get("csv_file")
    return "csv_file" if upload is not None and upload.filename else "csv_text"


def _statement(field: str) -> str:
    """The CSV text of the import form, at most MAX_UPLOAD_BYTES whether uploaded or pasted."""
    too_large = {field: f"must be at most {MAX_UPLOAD_BYTES // 1024} KB"}
    if field == "csv_file":
        raw = request.files["csv_file"].read(MAX_UPLOAD_BYTES + 1)
        if len(raw) > MAX_UPLOAD_BYTES:
            raise ValidationError("File too large.", too_large)
        return csv_import.decode_csv(raw)
    text = request.form.get("csv_text", "")
    if not text.strip():
        raise ValidationError("Nothing to import.", {"csv_text": "paste CSV here or choose a file above"})
    if len(text.encode()) > MAX_UPLOAD_BYTES:
        raise ValidationError("Too much text.", too_large)
    return text  # not stripped: line numbers in errors count the lines as pasted


MAX_PROBLEMS_SHOWN = 20


def describe_problems(fields: dict[str, str]) -> str:
    """One readable sentence from a ValidationError's fields ("line 3 date: ..."), the first few if many."""
    parts = [problem if where in ("file", "transactions", "csv_file", "csv_text") else f"{where}: {problem}"
             for where, problem in list(fields.items())[:MAX_PROBLEMS_SHOWN]]
    if len(fields) > MAX_PROBLEMS_SHOWN:
        parts.append(f"and {len(fields) - MAX_PROBLEMS_SHOWN} more")
    return "; ".join(parts)


@bp.post("/app/import")
@shows_refused_input(refused_on_workspace)
@login_required
def import_statement() -> Response:
    """Import a CSV bank statement, uploaded or pasted; every problem is listed next to the field."""
    field = _statement_field()
    try:
        result = csv_import.import_csv(current_user.tenant_id, _company_arg(), _statement(field))
    except ValidationError as exc:
        where = next((f for f in ("csv_file", "csv_text") if f in exc.fields), field)
        return answer(_company_arg(), errors={where: describe_problems(exc.fields)}, status=400)
    return answer(result.company_id, notice=import_notice(result.created, len(result.rows) - result.created))


def import_notice(created: int, again: int) -> str:
    """What an import did, counting the rows that were imported before and so changed nothing."""
    if not created:
        return ("Nothing new: the transaction was imported before." if again == 1
                else f"Nothing new: all {again} transactions were imported before.")
    return (f"Imported {created} new transaction{'' if created == 1 else 's'}"
            + (f" ({again} already there)." if again else "."))


def _chosen(single: str, many: str) -> list[str]:
    """The ids a form names: one row's button, or the ticked boxes."""
    one = request.form.get(single)
    return [one] if one else request.form.getlist(many)


@bp.post("/app/propose")
@shows_refused_input(refused_on_workspace)
@login_required
def propose() -> Response:
    """Propose entries for one transaction or a selection (metered: the free tier's 429 shows the modal)."""
    ids = _chosen("txn_id", "txn_ids")
    if not ids:
        return answer(_company_arg(), errors={"txn_ids": "Tick at least one transaction to propose."}, status=400)
    admit_ids(current_user.tenant_id, Action.PROPOSE, ids, transactions.count_distinct_transactions)
    entries = proposals.propose_entries(current_user.tenant_id, ids)
    return answer(_company_arg(), notice=f"Proposed {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}.")


@bp.post("/app/commit")
@shows_refused_input(refused_on_workspace)
@login_required
def commit() -> Response:
    """Post one proposed entry or a selection, each with the account its row shows (metered: 402s show the modal)."""
    ids = _chosen("je_id", "je_ids")
    if not ids:
        return answer(_company_arg(), errors={"je_ids": "Tick at least one proposal to commit."}, status=400)
    chosen = {je_id: request.form[f"account_{je_id}"] for je_id in ids if request.form.get(f"account_{je_id}")}
    admit_ids(current_user.tenant_id, Action.COMMIT, ids)
    try:
        entries = proposals.commit_with_accounts(current_user.tenant_id, ids, chosen)
    except ValidationError as exc:
        wrong = {f"account_{k.removeprefix('accounts.')}": problem
                 for k, problem in exc.fields.items() if k.startswith("accounts.")}
        if not wrong:
            raise
        return answer(_company_arg(), errors=wrong, status=400)
    return answer(_company_arg(), notice=f"Posted {len(entries)} entr{'y' if len(entries) == 1 else 'ies'} "
                                         "to the ledger.")


@bp.post("/app/entries/<je_id>/account")
@shows_refused_input(refused_on_workspace)
@login_required
def reassign(je_id: str) -> Response:
    """Change the account of a proposed entry before it is committed."""
    try:
        entry = proposals.reassign_account(current_user.tenant_id, je_id, request.form.get(f"account_{je_id}", ""))
    except ValidationError as exc:
        return answer(_company_arg(), errors={f"account_{je_id}": exc.fields.get("account_code", exc.message)},
                      status=400)
    return answer(entry.company_id, notice=f"{entry.memo}: now {entry.account.code} {entry.account.name}.")
