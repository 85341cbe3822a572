"""Billing emails: queued in the webhook's transaction (once per cause), sent over SMTP after it commits.

`queue` inserts a row keyed by its cause (`billing_emails.cause_key` is unique, so a second delivery
of the same event, or another event about the same cause, adds nothing). `deliver` runs after the
commit: it claims each pending row with one conditional UPDATE, sends it with no transaction open,
and records the outcome. MAIL_URL is `smtp://[user:password@]host:port` (`smtps://` for TLS from the
start, `?starttls=1` to upgrade); unset, rows stay pending and nothing is sent.
"""
from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app, render_template
from sqlalchemy import or_, select, update

from webapp import clock
from webapp.extensions import db, insert_ignoring_conflict
from webapp.models import BillingEmail, User

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 5
STUCK_AFTER = timedelta(minutes=10)  # a claim this old belongs to a sender that died mid-way
KINDS = ("trial_will_end", "payment_failed", "payment_recovered", "cancel_scheduled", "canceled", "receipt")


def owner_email(tenant_id: str) -> str | None:
    """Where a tenant's billing notices go: its owner's address (the first user otherwise)."""
    return db.session.scalar(select(User.email).where(User.tenant_id == tenant_id)
                             .order_by((User.role == "owner").desc(), User.created_at).limit(1))


def queue(tenant_id: str, kind: str, cause_key: str, event_id: str | None, **context: Any) -> None:
    """Render the email for `kind` and add it to the log unless its cause already has one (caller commits)."""
    if kind not in KINDS:
        raise ValueError(f"unknown email kind {kind}")
    to = owner_email(tenant_id)
    if to is None:
        return
    text = render_template(f"emails/{kind}.txt", **context)
    subject, _, body = text.strip().partition("\n")
    db.session.execute(insert_ignoring_conflict(BillingEmail, ["cause_key"], {
        "tenant_id": tenant_id, "kind": kind, "cause_key": cause_key[:300], "event_id": event_id, "to_address": to,
        "subject": subject.removeprefix("Subject:").strip()[:200], "body": body.strip() + "\n", "status": "pending",
        "attempts": 0, "created_at": clock.now()}))


@dataclass(frozen=True)
class MailSettings:
    """Where and how to send."""

    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str | None
    password: str | None
    sender: str


def settings() -> MailSettings | None:
    """MAIL_URL parsed, or None when mail is not configured."""
    url = current_app.config.get("MAIL_URL")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("MAIL_URL must look like smtp://host:port or smtps://user:password@host:port")
    query = parse_qs(parts.query)
    return MailSettings(host=parts.hostname, port=parts.port or (465 if parts.scheme == "smtps" else 25),
                        ssl=parts.scheme == "smtps", starttls=query.get("starttls", ["0"])[0] == "1",
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None,
                        sender=current_app.config["MAIL_FROM"])


def _message(row: tuple[int, str, str, str], sender: str) -> EmailMessage:
    _, to, subject, body = row
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"], msg["Message-ID"] = formatdate(usegmt=True), make_msgid(domain="ai-bookkeeper")
    msg.set_content(body)
    return msg


def _send(config: MailSettings, msg: EmailMessage) -> None:
    smtp_class = smtplib.SMTP_SSL if config.ssl else smtplib.SMTP
    with smtp_class(config.host, config.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if config.starttls:
            smtp.starttls()
        if config.username:
            smtp.login(config.username, config.password or "")
        smtp.send_message(msg)


def deliver(event_id: str | None = None, retry: bool = False) -> int:
    """Send the pending emails (of one event, or all; with `retry` also failed and stuck ones); how many
    were sent. Each is claimed first, so two senders never send the same one."""
    config = settings()
    if config is None:
        return 0
    now = clock.now()
    waiting = [BillingEmail.status == "pending"]
    if retry:
        waiting += [(BillingEmail.status == "failed") & (BillingEmail.attempts < MAX_ATTEMPTS),
                    (BillingEmail.status == "sending") & (BillingEmail.claimed_at < now - STUCK_AFTER)]
    stmt = select(BillingEmail.id, BillingEmail.to_address, BillingEmail.subject, BillingEmail.body).where(
        or_(*waiting)).order_by(BillingEmail.id).limit(100)
    if event_id is not None:
        stmt = stmt.where(BillingEmail.event_id == event_id)
    rows = db.session.execute(stmt).all()
    sent = 0
    for row in rows:
        claimed = db.session.execute(update(BillingEmail).where(BillingEmail.id == row[0], or_(*waiting))
                                     .values(status="sending", claimed_at=now, attempts=BillingEmail.attempts + 1)
                                     .execution_options(synchronize_session=False))
        db.session.commit()  # the claim is saved; no transaction stays open while SMTP answers
        if claimed.rowcount != 1:
            continue
        try:
            _send(config, _message(tuple(row), config.sender))  # type: ignore[arg-type]
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("billing.email_failed", extra={"email_id": row[0], "error": type(exc).__name__})
            _finish(row[0], "failed", f"{type(exc).__name__}: {exc}"[:2000])
            continue
        _finish(row[0], "sent", None)
        sent += 1
        log.info("billing.email_sent", extra={"email_id": row[0]})
    return sent


def deliver_after_commit(event_id: str) -> None:
    """Send what an event queued, once its transaction has committed; a bad MAIL_URL leaves them queued
    (the event itself is applied: the mail waits for the fix and `flask billing send-emails`)."""
    try:
        deliver(event_id)
    except ValueError:
        log.exception("billing.mail_misconfigured")


def _finish(email_id: int, status: str, error: str | None) -> None:
    db.session.execute(update(BillingEmail).where(BillingEmail.id == email_id)
                       .values(status=status, last_error=error, sent_at=clock.now() if status == "sent" else None)
                       .execution_options(synchronize_session=False))
    db.session.commit()
