"""Admin actions: grant and revoke the admin flag, replay a webhook event from /admin. Each one audited."""
from __future__ import annotations

import getpass
import json
import logging
import os
from dataclasses import dataclass

from sqlalchemy import select

from webapp.auth.services import normalise_email
from webapp.billing import operations
from webapp.errors import NotFound, ValidationError
from webapp.extensions import db
from webapp.models import OpsAudit, User

log = logging.getLogger(__name__)


def command_actor(command: str) -> str:
    """Who ran an operator command: the command and the OS user (SUDO_USER when run through sudo)."""
    try:
        user = os.environ.get("SUDO_USER") or getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"{command} (by {user})"


def _audit(action: str, actor: str, subject: str, tenant_id: str | None, **detail: object) -> None:
    db.session.add(OpsAudit(action=action, actor=actor, subject=subject, tenant_id=tenant_id,
                            detail_json=json.dumps(detail, default=str)))


@dataclass(frozen=True)
class AdminChange:
    """The outcome of a grant or revoke: whose flag, and whether it changed."""

    email: str
    is_admin: bool
    changed: bool


def set_admin(email: str, is_admin: bool, actor: str) -> AdminChange:
    """Grant or revoke the admin flag of the user with this email; audited when it changes. NotFound otherwise."""
    try:
        address = normalise_email(email)
    except ValidationError as exc:
        raise NotFound(f"No user with the email {email!r}.", email=email) from exc
    user = db.session.scalar(select(User).where(User.email == address).with_for_update())
    if user is None:
        raise NotFound(f"No user with the email {address}.", email=address)
    if user.is_admin == is_admin:
        db.session.rollback()
        return AdminChange(address, is_admin, changed=False)
    user.is_admin = is_admin
    _audit("grant_admin" if is_admin else "revoke_admin", actor, address, user.tenant_id,
           user_id=user.id, is_admin=f"{not is_admin} → {is_admin}")
    db.session.commit()
    log.info("ops.admin_granted" if is_admin else "ops.admin_revoked", extra={"user_id": user.id, "actor": actor})
    return AdminChange(address, is_admin, changed=True)


@dataclass(frozen=True)
class Replayed:
    """How replaying one event from /admin went."""

    event_id: str
    outcome: str
    error: str | None
    changed: list[str]


def replay_event(event_id: str, admin_email: str) -> Replayed:
    """Replay one stored event with the same service as `flask billing replay`, and audit who did it and how it went."""
    actor = f"/admin replay (by {admin_email})"
    result = operations.replay(event_id=event_id, actor=actor)[0]  # NotFound for an unknown event
    replayed = Replayed(event_id, result.outcome, result.error, sorted(result.changes))
    _audit("replay_event", actor, event_id, result.tenant_id, outcome=replayed.outcome,
           **({"error": replayed.error} if replayed.error else {}),
           **({"changed": ", ".join(replayed.changed)} if replayed.changed else {}))
    db.session.commit()
    log.info("ops.event_replayed", extra={"event_id": event_id, "outcome": replayed.outcome, "actor": actor})
    return replayed
