"""The bookkeeping core: companies, transactions, proposals and the ledger."""
from flask import Blueprint

bp = Blueprint("bookkeeping", __name__)
api_bp = Blueprint("bookkeeping_api", __name__, url_prefix="/api")

from webapp.bookkeeping import import_pages, pages, routes  # noqa: E402,F401  (registers the views on the blueprints)
