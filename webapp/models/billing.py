"""What a tenant is entitled to, kept true by Stripe webhooks."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column


from webapp.db_types import Base, UTCDateTime, utc_now

SUBSCRIPTION_STATUSES = ("none", "trialing", "active", "past_due", "unpaid", "canceled",
                         "incomplete", "incomplete_expired", "paused")


class Entitlement(Base):
    """One per tenant: the plan, its limits, and the Stripe subscription behind them."""

    __tablename__ = "entitlements"
    __table_args__ = (
        CheckConstraint("tx_cap >= 0 AND included_companies >= 0 AND addon_companies >= 0",
                        name="limits_nonnegative"),
        CheckConstraint("subscription_status IN ("
                        + ", ".join(f"'{s}'" for s in SUBSCRIPTION_STATUSES) + ")",
                        name="status_known"),
    )

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"),
                                           primary_key=True)
    plan: Mapped[str] = mapped_column(String(20), default="free")
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    subscription_status: Mapped[str] = mapped_column(String(24), default="none")
    tx_cap: Mapped[int] = mapped_column(default=0)
    bulk_approve: Mapped[bool] = mapped_column(Boolean, default=False)
    included_companies: Mapped[int] = mapped_column(default=1)
    addon_companies: Mapped[int] = mapped_column(default=0)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trial_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)
