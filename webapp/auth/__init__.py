"""Accounts: sign-up, log-in, log-out, the account page and API tokens."""
from flask import Blueprint

bp = Blueprint("auth", __name__)
api_bp = Blueprint("auth_api", __name__, url_prefix="/api/auth")

from webapp.auth import routes  # noqa: E402,F401  (registers the views on the blueprints)
