"""Thin billing views: the API for Checkout, Portal and status, and the pages that use them."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.auth.guards import api_tenant_id, api_user, bearer_required
from webapp.billing import api_bp, bp, checkout, links, page, status
from webapp import clock
from webapp.error_handlers import is_htmx
from webapp.errors import ValidationError
from webapp.input_policy import shows_refused_input
from webapp.payloads import Field, parse


@api_bp.post("/checkout")
@bearer_required
def api_checkout() -> dict[str, str]:
    """POST /api/billing/checkout {price_id | plan, addon_companies?} → {url, session_id}."""
    body = parse({"price_id": Field(str, required=False, max_length=255),
                  "plan": Field(str, required=False, max_length=40),
                  "addon_companies": Field(int, required=False)})
    start = checkout.start_checkout(api_user(), request.host_url, plan=body.get("plan"),
                                    price_id=body.get("price_id"), addon_companies=body.get("addon_companies", 0))
    return {"url": start.url, "session_id": start.session_id}


@api_bp.route("/portal", methods=["GET", "POST"])
@bearer_required
def api_portal() -> Response | dict[str, str]:
    """303 to a Billing Portal session; {url} for clients that prefer JSON."""
    url = checkout.portal_url(api_tenant_id(), request.host_url)
    if request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json":
        return {"url": url}
    return redirect(url, code=303)


@api_bp.get("/status")
@bearer_required
def api_status() -> dict[str, object]:
    """The tenant's plan, subscription, usage and notices."""
    return status.billing_status(api_tenant_id()).as_json()


def _since_arg() -> datetime | None:
    """When the activation wait began (a Unix time in the URL); None when absent, malformed or not recent.

    Only the last day counts: an older or future value (a stale bookmark, an edited URL) starts the wait afresh.
    """
    raw = request.args.get("since", "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12:
        return None
    since = datetime.fromtimestamp(int(raw), UTC)
    age = (clock.now() - since).total_seconds()
    return since if 0 <= age <= 86400 else None


def _return_to() -> str | None:
    """The same-site path a form asks to come back to after Checkout or the Portal (`next`), if any."""
    return links.return_path(request.form.get("next") or request.args.get("next"))


def _page_arg(name: str) -> int:
    """A page number from the query string (1 for anything that is not a small whole number)."""
    raw = request.args.get(name, "")
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 6 else 1


@bp.get("/billing")
@login_required
def status_page() -> str | Response:
    """The billing status page (the fragment alone for htmx polling while the subscription activates)."""
    activating = request.args.get("activating") == "1"
    since = _since_arg()
    back = {k: request.args[k] for k in ("done", "next") if request.args.get(k)}
    if activating and since is None and not is_htmx():  # every wait has a start, so it can time out
        return redirect(url_for("billing.status_page", activating="1", since=int(clock.now().timestamp()), **back),
                        code=303)
    view = page.billing_page(current_user.tenant_id, invoices_page=_page_arg("invoices"), activating=activating,
                             activating_since=since, done=back.get("done"), return_to=back.get("next"))
    return render_template("billing/_status.html" if is_htmx() else "billing/status.html", page=view)


@bp.get("/billing/plans")
@login_required
def plans_page() -> str:
    """The plan picker."""
    return render_template("billing/plans.html", picker=status.plan_picker(current_user.tenant_id),
                           canceled=request.args.get("checkout") == "canceled", errors={}, form={},
                           return_to=links.return_path(request.args.get("next")))


def _plans_refused(fields: dict[str, str]) -> tuple[str, int] | None:
    """The plan picker with a refused extra-companies field marked next to it."""
    plan = (request.view_args or {}).get("plan", "")
    if not current_user.is_authenticated or "addon_companies" not in fields or "plan" in fields:
        return None
    return render_template("billing/plans.html", picker=status.plan_picker(current_user.tenant_id), canceled=False,
                           errors={f"{plan}.addon_companies": fields["addon_companies"]}, form={}), 400


@bp.post("/billing/checkout/<plan>")
@shows_refused_input(_plans_refused)
@login_required
def checkout_page(plan: str) -> Response | tuple[str, int]:
    """Choose a plan: 303 to Stripe Checkout; a bad extra-companies field comes back next to the field."""
    addon = request.form.get("addon_companies", "0").strip() or "0"
    try:
        start = checkout.start_checkout(current_user, request.host_url, plan=plan,
                                        addon_companies=status.parse_quantity(addon), return_to=_return_to())
    except ValidationError as exc:
        errors = {f"{plan}.{name}": problem for name, problem in exc.fields.items()}
        return render_template("billing/plans.html", picker=status.plan_picker(current_user.tenant_id),
                               canceled=False, errors=errors, form={f"{plan}.addon_companies": addon},
                               return_to=_return_to()), 400
    return redirect(start.url, code=303)


@bp.route("/billing/portal", methods=["GET", "POST"])
@login_required
def portal_page() -> Response:
    """Manage billing: 303 to the Stripe Billing Portal (GET too, for the link in billing emails)."""
    return redirect(checkout.portal_url(current_user.tenant_id, request.host_url, _return_to()), code=303)


@bp.get("/billing/success")
@login_required
def success_page() -> Response:
    """Back from Checkout: apply the subscription now, then show the status page (polling if not yet active)."""
    applied = checkout.complete_checkout(current_user.tenant_id, request.args.get("session_id", ""))
    back = {"done": "checkout", "next": links.return_path(request.args.get("next"))}
    if applied:
        return redirect(url_for("billing.status_page", **back), code=303)
    since = int(clock.now().timestamp())
    return redirect(url_for("billing.status_page", activating="1", since=since, **back), code=303)


@bp.app_context_processor
def page_meter() -> dict[str, object]:
    """The header's usage meter for every page, built only when the layout asks for it."""
    def build() -> status.HeaderMeter | None:
        return status.header_meter(current_user.tenant_id) if current_user.is_authenticated else None

    return {"page_meter": build}
