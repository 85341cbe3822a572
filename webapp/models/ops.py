"""Operations: the state of each alert (shared by every process) and the audit trail of admin actions."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import Base, UTCDateTime, utc_now


class AlertState(Base):
    """One row per alert: whether it fires, since when, and the figure of its last evaluation.

    The row, not a process's memory, decides a transition: the UPDATE that flips `firing` matches one
    row in one process only, so the start and the end of a firing are logged once however many
    schedulers and cron jobs evaluate it.
    """

    __tablename__ = "alert_states"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    firing: Mapped[bool] = mapped_column(Boolean, default=False)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    figure: Mapped[str] = mapped_column(String(500), default="")
    evaluated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OpsAudit(Base):
    """One row per operator action outside a tenant's entitlement: admin granted or revoked, event replayed."""

    __tablename__ = "ops_audit"
    __table_args__ = (Index("ix_ops_audit_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(255))
    tenant_id: Mapped[str | None] = mapped_column(String(40))
    detail_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
