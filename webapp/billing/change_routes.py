"""Thin views for plan changes, cancellation and resumption, each a confirm page then a POST."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from webapp.billing import bp, plan_change
from webapp.errors import ValidationError


@bp.get("/billing/change/<plan>")
@login_required
def change_page(plan: str) -> str:
    """Confirm a plan change: Stripe's prorated preview and the new limits."""
    return render_template("billing/change.html", preview=plan_change.preview_change(current_user.tenant_id, plan),
                           expired=request.args.get("expired") == "1")


@bp.post("/billing/change/<plan>")
@login_required
def change_confirm(plan: str) -> Response:
    """Make the previewed change; an expired preview is shown again, fresh."""
    try:
        when = plan_change.parse_proration_date(request.form.get("proration_date", ""))
    except ValidationError:
        return redirect(url_for("billing.change_page", plan=plan, expired="1"), code=303)
    plan_change.change_plan(current_user.tenant_id, plan, when, actor=f"user {current_user.id}")
    return redirect(url_for("billing.status_page", done="plan"), code=303)


@bp.get("/billing/cancel")
@login_required
def cancel_page() -> str:
    """Confirm canceling at the end of the period."""
    return render_template("billing/cancel.html", preview=plan_change.preview_cancel(current_user.tenant_id, False),
                           resume=False)


@bp.post("/billing/cancel")
@login_required
def cancel_confirm() -> Response:
    """Cancel at the end of the period."""
    plan_change.set_cancel_at_period_end(current_user.tenant_id, True, actor=f"user {current_user.id}")
    return redirect(url_for("billing.status_page", done="canceled"), code=303)


@bp.get("/billing/resume")
@login_required
def resume_page() -> str:
    """Confirm resuming a plan set to end, with Stripe's next invoice."""
    return render_template("billing/cancel.html", preview=plan_change.preview_cancel(current_user.tenant_id, True),
                           resume=True)


@bp.post("/billing/resume")
@login_required
def resume_confirm() -> Response:
    """Keep the plan: undo the cancellation."""
    plan_change.set_cancel_at_period_end(current_user.tenant_id, False, actor=f"user {current_user.id}")
    return redirect(url_for("billing.status_page", done="resumed"), code=303)
