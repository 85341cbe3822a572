"""Operations: health checks, and (later) the admin pages and commands."""
from flask import Blueprint

bp = Blueprint("ops", __name__)

from webapp.ops import routes  # noqa: E402,F401  (registers the views on the blueprint)
