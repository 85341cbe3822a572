"""The workspace pages (/app/companies/<id>): thin session views over the bookkeeping services, metered by
the same gate.

Every page and action names its company in the URL, so what a form changes is the company its page
shows, a reload stays there, and a row of another company is refused (409 WRONG_COMPANY). Every action
answers htmx with the #workspace fragment and a plain form post with a 303 back to the company, so the
page works without JavaScript. Rejected input comes back as the fragment (or page) with each error next
to its field; paywall errors are left to the error handler, which shows the modal.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.billing.partial import PartialRetry, offer_partial
from webapp.bookkeeping import bp, proposals, services, transactions
from webapp.bookkeeping.workspace import Feedback, page_numbers, workspace_view
from webapp.error_handlers import is_htmx
from webapp.errors import Conflict, DomainError, NotFound, PaywallError, ValidationError
from webapp.extensions import db
from webapp.input_policy import is_storable, shows_refused_input
from webapp.metering.gate import Action
from webapp.metering.guards import reserved


def answer(company_id: str, feedback: Feedback | None = None, errors: dict[str, str] | None = None,
           status: int = 200, **extra: object) -> Response:
    """The workspace after an action: the fragment for htmx, a redirect (or the page with errors) otherwise."""
    if errors:
        db.session.rollback()  # nothing of a rejected form is kept
    view = workspace_view(current_user.tenant_id, company_id, feedback, errors, dict(request.form),
                          page_numbers(request.values), **extra)
    if is_htmx():
        resp = make_response(render_template("bookkeeping/_workspace.html", ws=view, fragment=True), status)
        if status >= 400:
            resp.headers["HX-Retarget"] = "#workspace"  # static/js/ui.js swaps errors that name their target
        return resp
    if errors or view.statement is not None:
        return make_response(render_template("bookkeeping/workspace.html", ws=view), status)
    if feedback:
        flash(feedback.text, "success")
    return redirect(url_for("bookkeeping.company_workspace", company_id=company_id, **view.page_numbers), code=303)


# Form field → the key its error is shown under on the workspace (the rest are shown under their own name;
# the import's carried statement and its choices under the file's field).
_ERROR_KEYS = {"txn_id": "txn_ids", "je_id": "je_ids", "statement": "csv_file", "source": "csv_file",
               "date_format": "csv_file", "amount_sign": "csv_file"}


def refused_on_workspace(fields: dict[str, str]) -> Response | None:
    """The workspace with the input policy's refused fields marked next to them; None (the error page names
    them) when a refused value is not a form field of the page, or the page itself cannot be shown."""
    company_id = (request.view_args or {}).get("company_id") or request.form.get("company", "")
    if (not current_user.is_authenticated or not company_id or not is_storable(company_id)
            or any(name not in request.form for name in fields) or "company" in fields):
        return None
    try:
        services.get_company(current_user.tenant_id, company_id)
    except NotFound:
        return None
    return answer(company_id, errors={_ERROR_KEYS.get(name, name): problem for name, problem in fields.items()},
                  status=400)


STALE_CODES = frozenset({"ALREADY_POSTED", "NOT_FOUND", "WRONG_COMPANY", "COMPANY_ARCHIVED"})


def stale_workspace(err: DomainError) -> str:
    """The fresh #workspace, swapped out of band beside the error modal, when a workspace action was refused
    because what it named changed meanwhile (posted, replaced or archived, say in another tab); "" otherwise."""
    company_id = (request.view_args or {}).get("company_id")
    if (request.blueprint != bp.name or request.method != "POST" or err.code not in STALE_CODES
            or not current_user.is_authenticated or not company_id):
        return ""
    try:
        view = workspace_view(current_user.tenant_id, company_id, pages=page_numbers(request.values))
    except NotFound:  # the company itself is gone: the modal alone says so
        return ""
    return render_template("bookkeeping/_workspace.html", ws=view, refresh_oob=True)


@bp.get("/app")
@login_required
def workspace() -> Response:
    """The old address (and `/`'s target): the company named by ?company= or the first active one."""
    company = services.get_company(current_user.tenant_id, request.args.get("company") or None)
    pages = {k: v for k, v in request.args.items() if k != "company"}
    return redirect(url_for("bookkeeping.company_workspace", company_id=company.id, **pages))


@bp.get("/app/companies/<company_id>")
@login_required
def company_workspace(company_id: str) -> str:
    """One company's workspace: import, transactions, proposals, ledger and trial balance."""
    view = workspace_view(current_user.tenant_id, company_id, pages=page_numbers(request.args))
    return render_template("bookkeeping/workspace.html", ws=view)


def _field_errors(exc: DomainError, prefix: str) -> dict[str, str] | None:
    fields = exc.details.get("fields")
    return {f"{prefix}{k}": v for k, v in fields.items()} if isinstance(fields, dict) else None


@bp.post("/app/companies")
@shows_refused_input(refused_on_workspace)
@login_required
def add_company() -> Response:
    """Add a company and go to it (402 COMPANY_LIMIT_REACHED past the plan's allowance shows the paywall)."""
    here = request.form.get("company", "")
    try:
        company = services.add_company(current_user.tenant_id, request.form.get("new_company_name", ""))
    except (ValidationError, Conflict) as exc:
        errors = _field_errors(exc, "new_company_")
        if errors is None or not here:
            raise
        return answer(here, errors=errors, status=exc.status)
    flash(f"Added {company.name}. You are now working in its books.", "success")
    target = url_for("bookkeeping.company_workspace", company_id=company.id)
    if is_htmx():  # another company: the whole page changes, address and all
        resp = make_response("", 204)
        resp.headers["HX-Redirect"] = target
        return resp
    return redirect(target, code=303)


@bp.post("/app/companies/<company_id>/rename")
@shows_refused_input(refused_on_workspace)
@login_required
def rename_company(company_id: str) -> Response:
    """Rename the company; the heading, switcher and title follow."""
    try:
        company = services.rename_company(current_user.tenant_id, company_id, request.form.get("company_name", ""))
    except (ValidationError, Conflict) as exc:
        errors = _field_errors(exc, "company_")
        if errors is None:
            raise
        return answer(company_id, errors=errors, status=exc.status)
    return answer(company.id, Feedback(f"Renamed to {company.name}.", "company"))


@bp.post("/app/companies/<company_id>/archive")
@shows_refused_input(refused_on_workspace)
@login_required
def archive_company(company_id: str) -> Response:
    """Archive the company: its place in the plan is freed, its books stay here, read-only."""
    company = services.archive_company(current_user.tenant_id, company_id)
    return answer(company.id, Feedback(f"Archived {company.name}: its books stay readable here. "
                                       "Restore it to work in it again.", "company"))


@bp.post("/app/companies/<company_id>/restore")
@shows_refused_input(refused_on_workspace)
@login_required
def restore_company(company_id: str) -> Response:
    """Bring an archived company back (402 COMPANY_LIMIT_REACHED if the plan has no free place)."""
    company = services.restore_company(current_user.tenant_id, company_id)
    return answer(company.id, Feedback(f"Restored {company.name}.", "company"))


def _chosen(single: str, many: str) -> list[str]:
    """The ids a form names: one row's button, or the ticked boxes (repeats dropped, in page order)."""
    one = request.form.get(single)
    return [one] if one else transactions.unique_ids(request.form.getlist(many))


@contextmanager
def _offering_partial(company_id: str, ids: list[str]) -> Iterator[None]:
    """Past the free cap with some analyses left, the modal offers to propose the first N."""
    try:
        yield
    except PaywallError as err:
        remaining = err.details.get("remaining")
        if err.code == "FREE_CAP_EXCEEDED" and isinstance(remaining, int) and 0 < remaining < len(ids):
            rest = len(ids) - remaining
            offer_partial(err, PartialRetry(
                f"Propose the first {remaining}", url_for("bookkeeping.propose", company_id=company_id),
                "txn_ids", tuple(ids[:remaining]),
                f"The other {rest} can be proposed when the allowance resets, or now with a paid plan below."))
        raise


@bp.post("/app/companies/<company_id>/propose")
@shows_refused_input(refused_on_workspace)
@login_required
def propose(company_id: str) -> Response:
    """Propose entries for one transaction or a selection (metered: the free tier's 429 shows the modal)."""
    ids = _chosen("txn_id", "txn_ids")
    if not ids:
        return answer(company_id, errors={"txn_ids": "Tick at least one transaction to propose."}, status=400)
    services.check_in_company(current_user.tenant_id, company_id, txn_ids=ids)
    with _offering_partial(company_id, ids), \
            reserved(current_user.tenant_id, Action.PROPOSE, ids, transactions.count_distinct_transactions):
        entries = proposals.propose_entries(current_user.tenant_id, ids)
    return answer(company_id, Feedback.proposed(entries, single=bool(request.form.get("txn_id"))))


@bp.post("/app/companies/<company_id>/commit")
@shows_refused_input(refused_on_workspace)
@login_required
def commit(company_id: str) -> Response:
    """Post one proposed entry or a selection, each with the account its row shows (metered: 402s show the modal)."""
    ids = _chosen("je_id", "je_ids")
    if not ids:
        return answer(company_id, errors={"je_ids": "Tick at least one proposal to commit."}, status=400)
    chosen = {je_id: request.form[f"account_{je_id}"] for je_id in ids if request.form.get(f"account_{je_id}")}
    services.check_in_company(current_user.tenant_id, company_id, je_ids=ids)
    try:
        with reserved(current_user.tenant_id, Action.COMMIT, ids):
            entries = proposals.commit_with_accounts(current_user.tenant_id, ids, chosen)
    except ValidationError as exc:
        wrong = {f"account_{k.removeprefix('accounts.')}": problem
                 for k, problem in exc.fields.items() if k.startswith("accounts.")}
        if not wrong:
            raise
        return answer(company_id, errors=wrong, status=400)
    return answer(company_id, Feedback.posted(entries, single=bool(request.form.get("je_id"))))


@bp.post("/app/companies/<company_id>/entries/<je_id>/account")
@shows_refused_input(refused_on_workspace)
@login_required
def reassign(company_id: str, je_id: str) -> Response:
    """Change the account of a proposed entry before it is committed."""
    services.check_in_company(current_user.tenant_id, company_id, je_ids=[je_id])
    try:
        entry = proposals.reassign_account(current_user.tenant_id, je_id, request.form.get(f"account_{je_id}", ""))
    except ValidationError as exc:
        return answer(company_id, errors={f"account_{je_id}": exc.fields.get("account_code", exc.message)},
                      status=400)
    return answer(company_id, Feedback(f"Now {entry.account.code} {entry.account.name}.", "proposals", je_id))
