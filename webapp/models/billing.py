"""What a tenant is entitled to, kept true by Stripe webhooks."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, and_, text
from sqlalchemy.orm import Mapped, foreign, mapped_column, relationship


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
    # Stripe's `created` of the newest event applied here: an older event never overwrites newer state.
    last_event_created: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the Stripe read applied last began: a read that began earlier is older and never written over it.
    stripe_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Held while one worker reads the tenant's subscription from Stripe for its webhook events; events
    # delivered meanwhile are queued for that worker's next read (webapp/billing/sync_lease.py).
    sync_lease_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)

    # The open manual override (Stripe's state stays in the columns above). `get_entitlement` loads it in
    # the same SELECT (a LEFT OUTER JOIN), so the gate pays no extra statement; elsewhere it loads on first
    # use, so a `SELECT ... FOR UPDATE` of entitlements never meets an outer join (PostgreSQL refuses that).
    override: Mapped[EntitlementOverride | None] = relationship(
        primaryjoin=lambda: and_(Entitlement.tenant_id == foreign(EntitlementOverride.tenant_id),
                                 EntitlementOverride.ended_at.is_(None)),
        lazy="select", viewonly=True, uselist=False)


class EntitlementOverride(Base):
    """A manual entitlement set by an operator: who, why, from when, until when, and how it ended.

    While open (`ended_at` NULL) and not past `until`, its plan and status are the tenant's effective
    entitlement, whatever Stripe's webhooks record on the entitlement row meanwhile. At most one is
    open per tenant (the partial unique index); ended ones stay as history.
    """

    __tablename__ = "entitlement_overrides"
    __table_args__ = (
        CheckConstraint("subscription_status IN (" + ", ".join(f"'{s}'" for s in SUBSCRIPTION_STATUSES) + ")",
                        name="status_known"),
        CheckConstraint("until IS NULL OR until > starts_at", name="until_after_start"),
        Index("uq_entitlement_overrides_open", "tenant_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
        Index("ix_entitlement_overrides_tenant_created", "tenant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    plan: Mapped[str] = mapped_column(String(20))
    subscription_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reactivation override also ends when Stripe reports the subscription's next paid invoice.
    ends_on_paid_invoice: Mapped[bool] = mapped_column(Boolean, default=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(200))
    end_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


# queued: stored, acknowledged, and waiting for the Stripe read another delivery of the tenant is making
EVENT_OUTCOMES = ("pending", "queued", "applied", "ignored", "stale", "failed")


class BillingEvent(Base):
    """Every verified Stripe event, stored before it is acted on; `event_id` makes delivery idempotent."""

    __tablename__ = "billing_events"
    __table_args__ = (
        CheckConstraint("outcome IN (" + ", ".join(f"'{o}'" for o in EVENT_OUTCOMES) + ")",
                        name="outcome_known"),
        Index("ix_billing_events_created_at", "created_at"),
        Index("ix_billing_events_tenant_created", "tenant_id", "created_at"),
        # Only the events not processed yet (a few among millions): what the console, alerts and replay ask for.
        Index("ix_billing_events_unprocessed", "created_at", "id",
              sqlite_where=text("processed IS 0"), postgresql_where=text("processed IS false")),
        # A tenant's events waiting for a read of their subscription (none, or a burst's worth): what the read
        # holding its lease covers (webapp/billing/sync_lease.py repeats this predicate in every query).
        Index("ix_billing_events_waiting", "tenant_id", "subscription_id", "outcome", "processing_started_at",
              sqlite_where=text("subscription_id IS NOT NULL AND processed IS 0"),
              postgresql_where=text("subscription_id IS NOT NULL AND processed IS false")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    stripe_created: Mapped[datetime] = mapped_column(UTCDateTime)          # Stripe's `created`
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)   # first delivery
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)  # latest delivery
    deliveries: Mapped[int] = mapped_column(default=1)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processing_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(String(16), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    tenant_id: Mapped[str | None] = mapped_column(String(40))
    # The Stripe subscription a queued event waits to have read (set when it is queued, and kept).
    subscription_id: Mapped[str | None] = mapped_column(String(255))
    payload_json: Mapped[str] = mapped_column(Text)


class BillingAudit(Base):
    """One row per change to an entitlement: what, by whom or which command, when, before and after."""

    __tablename__ = "billing_audit"
    __table_args__ = (Index("ix_billing_audit_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    event_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)  # why, for manual actions (--reason)
    before_json: Mapped[str] = mapped_column(Text)
    after_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class BillingNotice(Base):
    """A message for the tenant's billing page (trial ending, payment failed), once per Stripe event."""

    __tablename__ = "billing_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(String(500))
    event_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
