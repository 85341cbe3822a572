"""Usage counters behind the entitlement gate (table names as in the operations runbook)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import Base, UTCDateTime


class UsageMonthly(Base):
    """Per tenant and UTC month: transactions analysed (proposed) and posted (committed)."""

    __tablename__ = "usage_monthly"
    __table_args__ = (CheckConstraint("tx_posted >= 0 AND tx_analyzed >= 0", name="usage_nonnegative"),
                      Index("ix_usage_monthly_year_month", "year_month"))  # reports by month, across tenants

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    year_month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "2025-11"
    tx_analyzed: Mapped[int] = mapped_column(default=0, server_default="0")
    tx_posted: Mapped[int] = mapped_column(default=0, server_default="0")
    # When the counters last started from zero: the row's creation on first use, or the rollover.
    last_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UsageDaily(Base):
    """Per tenant and UTC day: transactions analysed, for the free tier's daily cap."""

    __tablename__ = "usage_daily"
    __table_args__ = (CheckConstraint("tx_analyzed >= 0", name="usage_nonnegative"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    tx_analyzed: Mapped[int] = mapped_column(default=0, server_default="0")


class RolloverRun(Base):
    """One row per rolled-over month: the unique key lets exactly one process run each month's rollover."""

    __tablename__ = "rollover_runs"

    year_month: Mapped[str] = mapped_column(String(7), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(100))
    tenants: Mapped[int] = mapped_column(default=0)
    rows_created: Mapped[int] = mapped_column(default=0)


class RolloverFailure(Base):
    """A rollover run that failed (rolled back): what the rollover alert and the ops report show."""

    __tablename__ = "rollover_failures"
    __table_args__ = (Index("ix_rollover_failures_year_month", "year_month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    year_month: Mapped[str] = mapped_column(String(7))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(100))
    error: Mapped[str] = mapped_column(Text)
