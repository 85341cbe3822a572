"""The /billing page's view model: status, card, invoices, next invoice, usage history, one notice.

Everything comes from the app's own tables (the entitlement, the webhook-fed invoice and card
copies, usage_monthly); only the next invoice may ask Stripe, through its short cache.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from webapp import clock
from webapp.billing import copies, links, next_invoice, notices
from webapp.billing.plans import FREE, FREE_DAILY_ANALYZE_LIMIT
from webapp.billing.services import get_entitlement
from webapp.billing.status import BillingStatus, billing_status
from webapp.billing.usage_chart import UsageChart, usage_chart
from webapp.extensions import db
from webapp.models import BillingCard, Company


@dataclass(frozen=True)
class PaymentProblem:
    """The one notice a failed payment gets: what is owed, how often it failed, when Stripe tries again."""

    status: str  # past_due | unpaid
    plan_name: str
    amount_due: int | None
    currency: str
    attempts: int
    next_retry: datetime | None
    invoice_url: str | None

    @property
    def retries_stopped(self) -> bool:
        """True once Stripe has given up retrying on its own (unpaid, or no next attempt)."""
        return self.status == "unpaid" or self.next_retry is None


@dataclass(frozen=True)
class CompaniesLine:
    """Companies in use against the allowance, e.g. '3 of 3 (Pro) — posting paused'."""

    used: int
    allowed: int
    plan_name: str
    paused: bool
    over: int  # companies beyond what the tenant may add now


DONE_KINDS = ("checkout", "portal", "plan", "canceled", "resumed")


@dataclass(frozen=True)
class Banner:
    """The confirmation after Checkout, the Portal or a change here, and the way back to the work."""

    text: str
    continue_to: str | None


def banner(kind: str | None, status: BillingStatus, return_to: str | None) -> Banner | None:
    """What the confirmation says, read from the entitlement (never from the URL), or None."""
    if kind not in DONE_KINDS or status.activating:
        return None
    back = links.return_path(return_to)
    plan = status.plan
    if status.payment_problem:
        text = "Your payment has not gone through yet: see below what is owed and update your card."
    elif kind == "canceled" or (status.paid and status.cancel_at_period_end):
        ends = f" on {status.current_period_end:%Y-%m-%d}" if status.current_period_end else ""
        text = f"Your {plan.name} plan ends{ends}. Until then everything works as now; resume it any time before."
    elif status.paid:
        text = f"You're on {plan.name} — {plan.tx_cap:,} postings a month."
        if status.subscription_status == "trialing" and status.trial_end is not None:
            text += f" Your free trial runs until {status.trial_end:%Y-%m-%d}."
        elif kind == "resumed" and status.current_period_end is not None:
            text += f" It renews on {status.current_period_end:%Y-%m-%d}."
    elif kind == "checkout":
        return None  # not active yet: the activation card says so
    else:
        text = "You're on the Free plan."
    return Banner(text, back)


@dataclass
class BillingPage:
    """Everything /billing shows."""

    status: BillingStatus
    card: BillingCard | None
    invoices: copies.InvoicePage
    next_invoice: next_invoice.NextInvoice | None
    problem: PaymentProblem | None
    companies: CompaniesLine
    chart: UsageChart
    notices: list[str]
    banner: Banner | None = None
    done: str | None = None
    return_to: str | None = None
    free_daily_limit: int = FREE_DAILY_ANALYZE_LIMIT


def _problem(status: BillingStatus, subscription_id: str | None) -> PaymentProblem | None:
    if not status.payment_problem:
        return None
    invoice = copies.open_invoice(status.tenant_id, subscription_id)
    owed = copies.amount_owed(status.tenant_id, subscription_id)
    return PaymentProblem(
        status=status.subscription_status, plan_name=status.plan.name,
        amount_due=owed if invoice is not None else None,
        currency=invoice.currency if invoice is not None else status.plan.currency,
        attempts=invoice.attempt_count if invoice is not None else 0,
        next_retry=invoice.next_payment_attempt if invoice is not None else None,
        invoice_url=invoice.hosted_invoice_url if invoice is not None else None)


def _companies(status: BillingStatus) -> CompaniesLine:
    used = db.session.scalar(select(func.count()).select_from(Company)
                             .where(Company.tenant_id == status.tenant_id, Company.archived_at.is_(None))) or 0
    subscribed = status.paid or status.payment_problem or status.cancel_at_period_end
    plan = status.plan if subscribed else FREE
    allowed = (status.included_companies + status.addon_companies) if subscribed else FREE.included_companies
    return CompaniesLine(used=used, allowed=allowed, plan_name=plan.name, paused=status.payment_problem,
                         over=max(0, used - status.allowed_companies))


def billing_page(tenant_id: str, invoices_page: int = 1, activating: bool = False,
                 activating_since: datetime | None = None, done: str | None = None,
                 return_to: str | None = None) -> BillingPage:
    """Assemble the billing page for a tenant."""
    status = billing_status(tenant_id, activating=activating, activating_since=activating_since)
    ent = get_entitlement(tenant_id)
    subscription_id, sub_status = ent.stripe_subscription_id, ent.subscription_status
    problem = _problem(status, subscription_id)
    # A failed payment already has its own notice; its webhook notice would say the same again.
    shown = [n.message for n in notices.active(tenant_id) if not (problem and n.kind == "payment_failed")]
    upcoming = next_invoice.next_invoice(tenant_id, subscription_id, sub_status)
    return BillingPage(
        status=status, card=copies.card_on_file(tenant_id), invoices=copies.invoice_page(tenant_id, invoices_page),
        next_invoice=upcoming, problem=problem, companies=_companies(status),
        chart=usage_chart(tenant_id, clock.now()), notices=shown, banner=banner(done, status, return_to),
        done=done if done in DONE_KINDS else None, return_to=links.return_path(return_to))

