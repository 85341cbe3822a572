"""Thin views for accounts: parse input, call one service, render or redirect."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import COOKIE_NAME, current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from webapp.auth import api_bp, bp, services
from webapp.auth.guards import api_user, bearer_required
from webapp.errors import EmailTaken, InvalidCredentials, ValidationError
from webapp.extensions import limiter
from webapp.input_policy import shows_refused_input
from webapp.payloads import Field, parse
from webapp.redirects import same_site_path


def auth_rate_limit() -> str:
    """The per-address limit on sign-up and log-in attempts (AUTH_RATE_LIMIT)."""
    return str(current_app.config["AUTH_RATE_LIMIT"])


auth_limit = limiter.shared_limit(auth_rate_limit, scope="auth", methods=["POST"])


def _kept_form(refused: dict[str, str]) -> dict[str, str]:
    """The posted form without its refused fields, to fill the form in again."""
    return {k: v for k, v in request.form.items() if k not in refused}


def _signup_refused(fields: dict[str, str]) -> tuple[str, int]:
    return render_template("auth/signup.html", form=_kept_form(fields), errors=fields), 400


def _login_refused(fields: dict[str, str]) -> tuple[str, int]:
    return render_template("auth/login.html", form=_kept_form(fields), error=None, errors=fields), 400


def _account_refused(fields: dict[str, str]) -> tuple[str, int] | None:
    if not current_user.is_authenticated:
        return None
    return render_template("account/account.html", tokens=services.list_tokens(current_user.tenant_id),
                           new_token=None, errors=fields), 400


@bp.get("/")
def index() -> Response:
    """Signed-in users go to their workspace, everyone else to sign-up."""
    return redirect(url_for("bookkeeping.workspace" if current_user.is_authenticated else "auth.signup"))


@bp.route("/signup", methods=["GET", "POST"])
@shows_refused_input(_signup_refused)
@auth_limit
def signup() -> Response | tuple[str, int] | str:
    """The sign-up form; on success the new user is logged in."""
    form = request.form
    if request.method == "GET":
        return render_template("auth/signup.html", form={}, errors={})
    try:
        user, _ = services.signup(form.get("email", ""), form.get("password", ""), form.get("full_name", ""),
                                  form.get("company_name", ""))
    except ValidationError as exc:
        return render_template("auth/signup.html", form=form, errors=exc.fields), 400
    except EmailTaken:
        return render_template("auth/signup.html", form=form,
                               errors={"email": "An account with this email already exists."}), 409
    login_user(user)
    flash("Welcome! Your account is ready: you are on the Free plan.", "success")
    return redirect(url_for("bookkeeping.workspace"))


@bp.route("/login", methods=["GET", "POST"])
@shows_refused_input(_login_refused)
@auth_limit
def login() -> Response | tuple[str, int] | str:
    """The log-in form."""
    if request.method == "GET":
        return render_template("auth/login.html", form={}, error=None)
    try:
        user = services.authenticate(request.form.get("email", ""), request.form.get("password", ""))
    except InvalidCredentials as exc:
        return render_template("auth/login.html", form=request.form, error=exc.message), 401
    login_user(user, remember=request.form.get("remember") == "on")
    return redirect(same_site_path(request.args.get("next")) or url_for("bookkeeping.workspace"))


@bp.post("/logout")
@login_required
def logout() -> Response:
    """End the browser session, on the server too: this session and remember-me cookie stop working, copies too."""
    services.log_out(current_user._get_current_object())
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/account")
@login_required
def account() -> str:
    """The account page: profile and API tokens."""
    return render_template("account/account.html", tokens=services.list_tokens(current_user.tenant_id),
                           new_token=None, errors={})


@bp.post("/account/tokens")
@shows_refused_input(_account_refused)
@login_required
def create_token() -> tuple[str, int]:
    """Create a token and show it once, in this response only."""
    try:
        issued = services.create_token(current_user, request.form.get("name", ""))
    except ValidationError as exc:
        tokens = services.list_tokens(current_user.tenant_id)
        return render_template("account/account.html", tokens=tokens, new_token=None, errors=exc.fields), 400
    tokens = services.list_tokens(current_user.tenant_id)
    return render_template("account/account.html", tokens=tokens, new_token=issued, errors={}), 201


@bp.post("/account/password")
@shows_refused_input(_account_refused)
@auth_limit
@login_required
def change_password() -> Response | tuple[str, int]:
    """Change the password; every other session of the user ends, this one carries on."""
    user = current_user._get_current_object()
    try:
        services.change_password(user, request.form.get("current_password", ""),
                                 request.form.get("new_password", ""))
    except ValidationError as exc:
        return _account_refused(exc.fields) or ("", 400)
    login_user(user, remember=current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME) in request.cookies)
    flash("Password changed. Every other session has been logged out.", "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/tokens/<token_id>/revoke")
@login_required
def revoke_token(token_id: str) -> Response:
    """Revoke a token of the signed-in user's tenant."""
    token = services.revoke_token(current_user.tenant_id, token_id)
    flash(f"Token “{token.name}” revoked.", "info")
    return redirect(url_for("auth.account"))


@api_bp.post("/signup")
@auth_limit
def api_signup() -> tuple[dict[str, str], int]:
    """POST /api/auth/signup {email, password, full_name, company_name?} → 201 with a Bearer token."""
    body = parse({"email": Field(str, max_length=254), "password": Field(str),
                  "full_name": Field(str, max_length=200), "company_name": Field(str, required=False, max_length=200)})
    user, issued = services.signup(body["email"], body["password"], body["full_name"], body.get("company_name"))
    return {"tenant_id": user.tenant_id, "user_id": user.id, "token": issued.plain,
            "token_type": "Bearer"}, 201


@api_bp.post("/login")
@auth_limit
def api_login() -> dict[str, str]:
    """POST /api/auth/login {email, password} → a new Bearer token."""
    body = parse({"email": Field(str, max_length=254), "password": Field(str)})
    user, issued = services.login_for_token(body["email"], body["password"])
    return {"token": issued.plain, "token_type": "Bearer", "tenant_id": user.tenant_id}


@api_bp.get("/me")
@bearer_required
def api_me() -> dict[str, object]:
    """Who the Bearer token belongs to."""
    user = api_user()
    return {"user_id": user.id, "tenant_id": user.tenant_id, "email": user.email,
            "full_name": user.full_name, "role": user.role}

