"""Accounts: sign-up, log-in and API tokens. Each public function is one unit of work."""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from webapp import clock
from webapp.billing import services as billing_services
from webapp.bookkeeping import services as bookkeeping_services
from webapp.errors import EmailTaken, InvalidCredentials, NotFound, ValidationError
from webapp.extensions import db, execute_core
from webapp.ids import new_id
from webapp.models import ApiToken, Tenant, User

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
TOKEN_PREFIX = "abk_"
# Writing last_used_at on every request would turn every read into a write; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# A hash to check against when the email is unknown, so both failures take the same time.
_DUMMY_HASH: dict[str, str] = {}


@dataclass(frozen=True)
class IssuedToken:
    """A freshly created token: `plain` is shown once and never stored."""

    token: ApiToken
    plain: str


def normalise_email(raw: str) -> str:
    """Return the canonical (lower-cased) email, or raise ValidationError on the `email` field."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError("Some fields are missing or invalid.", {"email": str(exc)}) from exc
    return result.normalized.lower()


def check_signup_fields(email: str, password: str, full_name: str, company_name: str | None = None) -> str:
    """Validate sign-up input, reporting every problem at once; return the normalised email.

    `company_name` None means the client did not ask for one (the API's default name is used)."""
    problems: dict[str, str] = {}
    normalised = ""
    try:
        normalised = normalise_email(email)
    except ValidationError as exc:
        problems.update(exc.fields)
    if len(password) < MIN_PASSWORD_LENGTH:
        problems["password"] = f"must be at least {MIN_PASSWORD_LENGTH} characters"
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems["password"] = f"must be at most {MAX_PASSWORD_LENGTH} characters"
    if not full_name.strip():
        problems["full_name"] = "is required"
    if company_name is not None:
        try:
            bookkeeping_services.check_company_name(company_name)
        except ValidationError as exc:
            problems["company_name"] = exc.fields["name"]
    if problems:
        raise ValidationError("Some fields are missing or invalid.", problems)
    return normalised


def signup(email: str, password: str, full_name: str, company_name: str | None = None) -> tuple[User, IssuedToken]:
    """Create a tenant with its owner, first company (named `company_name`, else "<full name>'s company"),
    free entitlement and a first API token."""
    normalised = check_signup_fields(email, password, full_name, company_name)
    if db.session.scalar(select(User.id).where(User.email == normalised)) is not None:
        raise EmailTaken("An account with this email already exists.", fields={"email": "is already registered"})
    name = full_name.strip()
    tenant = Tenant(id=new_id("tenant"), name=name)
    user = User(id=new_id("user"), tenant=tenant, email=normalised, full_name=name, role="owner",
                password_hash=_hash_password(password))
    db.session.add_all([tenant, user])
    db.session.flush()
    billing_services.create_free_entitlement(tenant.id)
    bookkeeping_services.add_first_company(tenant.id, company_name.strip() if company_name else f"{name}'s company")
    issued = _issue_token(user, "Created at sign-up")
    try:
        db.session.commit()
    except IntegrityError as exc:  # two sign-ups with one email at the same moment
        db.session.rollback()
        raise EmailTaken("An account with this email already exists.",
                         fields={"email": "is already registered"}) from exc
    log.info("auth.signup", extra={"tenant_id": tenant.id, "user_id": user.id})
    return user, issued


def authenticate(email: str, password: str) -> User:
    """Return the user with these credentials, or raise InvalidCredentials (same answer either way)."""
    try:
        normalised = normalise_email(email)
    except ValidationError:
        normalised = ""
    user = db.session.scalar(select(User).where(User.email == normalised)) if normalised else None
    stored = user.password_hash if user else _dummy_hash()
    if not check_password_hash(stored, password) or user is None:
        log.info("auth.login_failed")
        raise InvalidCredentials("Email or password is wrong.")
    return user


def login_for_token(email: str, password: str) -> tuple[User, IssuedToken]:
    """Check credentials and issue a new API token for the user."""
    user = authenticate(email, password)
    issued = _issue_token(user, f"Log-in {clock.now():%Y-%m-%d %H:%M} UTC")
    db.session.commit()
    log.info("auth.login", extra={"tenant_id": user.tenant_id, "user_id": user.id})
    return user, issued


def create_token(user: User, name: str) -> IssuedToken:
    """Issue a named API token for `user`."""
    name = name.strip()
    if not name:
        raise ValidationError("Some fields are missing or invalid.", {"name": "is required"})
    if len(name) > 100:
        raise ValidationError("Some fields are missing or invalid.", {"name": "must be at most 100 characters"})
    issued = _issue_token(user, name)
    db.session.commit()
    log.info("auth.token_created", extra={"tenant_id": user.tenant_id, "token_id": issued.token.id})
    return issued


def list_tokens(tenant_id: str) -> list[ApiToken]:
    """Return the tenant's tokens, newest first (revoked ones included, marked)."""
    stmt = select(ApiToken).where(ApiToken.tenant_id == tenant_id).order_by(ApiToken.created_at.desc())
    return list(db.session.scalars(stmt))


def revoke_token(tenant_id: str, token_id: str) -> ApiToken:
    """Revoke one of the tenant's tokens; revoking twice is harmless; another tenant's is NotFound."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.tenant_id != tenant_id:
        raise NotFound("No such API token.", ids=[token_id])
    if token.revoked_at is None:
        token.revoked_at = clock.now()
        db.session.commit()
        log.info("auth.token_revoked", extra={"tenant_id": tenant_id, "token_id": token_id})
    return token


@dataclass(frozen=True)
class ApiCaller:
    """Who a live Bearer token speaks for: the ids every API route works with (the user row is not loaded)."""

    user_id: str
    tenant_id: str


# Every API request runs this, so it is built once and is a Core read of the token's own columns: the
# token carries its user's and tenant's ids, and a route that needs the user row asks for it (user_by_id).
_TOKENS = ApiToken.__table__.c
_LIVE_TOKEN = (select(_TOKENS.user_id, _TOKENS.tenant_id, _TOKENS.id, _TOKENS.last_used_at)
               .where(_TOKENS.token_hash == bindparam("token_hash"), _TOKENS.revoked_at.is_(None)))
# The same read with the tenant's entitlement (billing_services.EFFECTIVE_COLUMNS) joined: for a metered
# route, whose gate would read it next (read_effective), so the two reads are one round trip.
_LIVE_TOKEN_AND_ENTITLEMENT = (select(_TOKENS.user_id, _TOKENS.tenant_id, _TOKENS.id, _TOKENS.last_used_at,
                                      *billing_services.EFFECTIVE_COLUMNS)
                               .select_from(billing_services.with_effective(ApiToken.__table__, _TOKENS.tenant_id))
                               .where(_TOKENS.token_hash == bindparam("token_hash"), _TOKENS.revoked_at.is_(None)))
_TOUCH_TOKEN = (update(ApiToken.__table__).where(_TOKENS.id == bindparam("token_id"))
                .values(last_used_at=bindparam("now", type_=_TOKENS.last_used_at.type)))


def caller_for_token(plain: str, with_entitlement: bool = False) -> ApiCaller | None:
    """Return who a live Bearer token speaks for, or None for unknown and revoked tokens.

    `with_entitlement`: the same statement reads the tenant's entitlement, remembered for this request's
    gate (billing_services.remember_effective).
    """
    if not plain.startswith(TOKEN_PREFIX):
        return None
    token = execute_core(_LIVE_TOKEN_AND_ENTITLEMENT if with_entitlement else _LIVE_TOKEN,
                         {"token_hash": _token_hash(plain)}).first()
    if token is None:
        return None
    if with_entitlement:
        billing_services.remember_effective(token.tenant_id, token[4:])
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        execute_core(_TOUCH_TOKEN, {"token_id": token.id, "now": now})
        db.session.commit()
    return ApiCaller(token.user_id, token.tenant_id)


def user_by_id(user_id: str) -> User | None:
    """The user row (for the API routes that show or bill the user, not just the tenant)."""
    return db.session.get(User, user_id)


def load_user(session_id: str) -> User | None:
    """Flask-Login's user loader: the user, if the session was issued under its current session version.

    A session (or remember-me cookie) from before a log-out or a password change names an older
    version and loads nobody, wherever a copy of it is kept.
    """
    user_id, _, version = session_id.rpartition(":")
    if not (user_id and version.isascii() and version.isdigit()):
        return None
    user = db.session.get(User, user_id)
    return user if user is not None and user.session_version == int(version) else None


def end_sessions(user: User) -> None:
    """End every browser session and remember-me cookie of the user (part of the caller's unit of work)."""
    user.session_version = User.session_version + 1  # in SQL: two log-outs at once both count
    db.session.flush()  # the attribute is expired and re-read with the new version on next access


def log_out(user: User) -> None:
    """Log the user out on the server: their sessions and remember-me cookies stop working, copies too."""
    end_sessions(user)
    db.session.commit()
    log.info("auth.logout", extra={"tenant_id": user.tenant_id, "user_id": user.id})


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; every other session of the user ends."""
    if not check_password_hash(user.password_hash, current):
        raise ValidationError("Some fields are missing or invalid.", {"current_password": "is not your password"})
    if len(new) < MIN_PASSWORD_LENGTH:
        raise ValidationError("Some fields are missing or invalid.",
                              {"new_password": f"must be at least {MIN_PASSWORD_LENGTH} characters"})
    if len(new) > MAX_PASSWORD_LENGTH:
        raise ValidationError("Some fields are missing or invalid.",
                              {"new_password": f"must be at most {MAX_PASSWORD_LENGTH} characters"})
    user.password_hash = _hash_password(new)
    end_sessions(user)
    db.session.commit()
    log.info("auth.password_changed", extra={"tenant_id": user.tenant_id, "user_id": user.id})


def _issue_token(user: User, name: str) -> IssuedToken:
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(id=new_id("tok"), tenant_id=user.tenant_id, user_id=user.id, name=name,
                     token_hash=_token_hash(plain), prefix=plain[:12])
    db.session.add(token)
    return IssuedToken(token=token, plain=plain)


def _token_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def _hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASH:
        _DUMMY_HASH[method] = generate_password_hash(secrets.token_hex(16), method=method)
    return _DUMMY_HASH[method]
