"""Webhook-fed copies of Stripe's invoices and card on file, and a short cache of the next invoice.

Stripe stays the source of truth; these rows let the billing page draw itself without calling
Stripe on every view.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import Base, UTCDateTime, utc_now

INVOICE_STATUSES = ("draft", "open", "paid", "uncollectible", "void")


class BillingInvoice(Base):
    """One Stripe invoice of a tenant, as its newest applied invoice.* event showed it."""

    __tablename__ = "billing_invoices"
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in INVOICE_STATUSES) + ")",
                        name="status_known"),
        CheckConstraint("amount_due >= 0 AND amount_paid >= 0 AND amount_remaining >= 0 AND attempt_count >= 0",
                        name="amounts_nonnegative"),
        Index("ix_billing_invoices_tenant_created", "tenant_id", "stripe_created"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stripe_invoice_id: Mapped[str] = mapped_column(String(255), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    # draft 0 < open 1 < paid/uncollectible/void 2: an event of the same second never moves it back
    status_rank: Mapped[int] = mapped_column(default=0)
    billing_reason: Mapped[str | None] = mapped_column(String(40))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[int] = mapped_column(default=0)
    amount_due: Mapped[int] = mapped_column(default=0)
    amount_paid: Mapped[int] = mapped_column(default=0)
    amount_remaining: Mapped[int] = mapped_column(default=0)
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_payment_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    invoice_pdf: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stripe_created: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_event_created: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class BillingCard(Base):
    """The card a tenant's subscription is charged to (brand, last 4, expiry), from the webhooks."""

    __tablename__ = "billing_cards"
    __table_args__ = (CheckConstraint("exp_month BETWEEN 1 AND 12", name="exp_month_valid"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    payment_method_id: Mapped[str] = mapped_column(String(255))
    brand: Mapped[str] = mapped_column(String(32))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column()
    exp_year: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)


class BillingPreview(Base):
    """A short cache of Stripe's preview of the tenant's next invoice; a webhook marks it stale."""

    __tablename__ = "billing_previews"
    __table_args__ = (CheckConstraint("amount_due IS NULL OR amount_due >= 0", name="amount_nonnegative"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(255))
    amount_due: Mapped[int | None] = mapped_column()     # None: Stripe has no upcoming invoice
    currency: Mapped[str | None] = mapped_column(String(3))
    bills_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    # When a webhook last marked it stale: a preview fetched before that moment is saved still stale.
    marked_stale_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


EMAIL_STATUSES = ("pending", "sending", "sent", "failed")


class BillingEmail(Base):
    """The sent-email log: one row per cause (an invoice attempt, a subscription change), so a notice is
    sent at most once however often Stripe delivers the event behind it."""

    __tablename__ = "billing_emails"
    __table_args__ = (
        CheckConstraint("status IN (" + ", ".join(f"'{s}'" for s in EMAIL_STATUSES) + ")", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_nonnegative"),
        Index("ix_billing_emails_tenant_created", "tenant_id", "created_at"),
        Index("ix_billing_emails_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    cause_key: Mapped[str] = mapped_column(String(300), unique=True)
    event_id: Mapped[str | None] = mapped_column(String(255))
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
