"""The header's usage meter, kept true on every htmx answer: one fragment, swapped out of band.

Any htmx request may change usage or plan (a proposal, a commit, a paywall after a failed payment, the
status page settling after Checkout), and the header sits outside every swap target; so every htmx
answer to a signed-in user carries `billing/_meter.html` and `billing/_nudge.html` with
hx-swap-oob, read fresh after the request's own work. Full pages render them in the layout.
"""
from __future__ import annotations

from flask import render_template
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp.billing import bp, status
from webapp.error_handlers import is_htmx

SKIPPED_STATUSES = frozenset({204, 401})  # nothing swapped: no body, or htmx is redirected to log in


def wants_meter(resp: Response) -> bool:
    """True for an htmx answer with HTML that htmx will swap (2xx and 4xx; a 500 may mean the database is down)."""
    return (is_htmx() and resp.mimetype == "text/html" and not resp.direct_passthrough
            and resp.status_code < 500 and resp.status_code not in SKIPPED_STATUSES
            and not 300 <= resp.status_code < 400 and current_user.is_authenticated)


@bp.after_app_request
def refresh_header_meter(resp: Response) -> Response:
    """Append the header meter and nudge, out of band, to every htmx answer to a signed-in user."""
    if wants_meter(resp):
        meter = status.header_meter(current_user.tenant_id)
        oob = render_template("billing/_meter.html", meter=meter, oob=True) + \
            render_template("billing/_nudge.html", meter=meter, oob=True)
        resp.set_data(resp.get_data() + oob.encode())
    return resp
