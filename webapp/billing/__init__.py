"""Billing: the plan catalog, entitlements, and (with Stripe) checkout, portal and webhooks."""
from flask import Blueprint

bp = Blueprint("billing", __name__)
api_bp = Blueprint("billing_api", __name__, url_prefix="/api/billing")

from webapp.billing import change_routes, header_meter, routes  # noqa: E402,F401  (registers the views and hooks on the blueprints)
