"""Usage metering: monthly and daily counters behind the entitlement gate."""
from flask import Blueprint

bp = Blueprint("metering", __name__)
api_bp = Blueprint("metering_api", __name__, url_prefix="/api")

from webapp.metering import routes  # noqa: E402,F401  (registers the views on the blueprints)
