"""Where the app sends a tenant to pay: the plan picker and the Billing Portal (used in paywall answers)."""
from __future__ import annotations

from urllib.parse import urlsplit

from webapp.redirects import same_site_path

MAX_RETURN_PATH = 500  # a return path longer than this is dropped (it also travels in Stripe's URLs)

# Routes of the billing blueprint; kept here so services can name them without a request context.
PLANS_PATH = "/billing/plans"
PORTAL_PATH = "/api/billing/portal"


def upgrade_url() -> str:
    """The plan picker, where a tenant chooses a paid plan."""
    return PLANS_PATH


def portal_url() -> str:
    """The Billing Portal redirect, where a tenant updates the card or changes plan."""
    return PORTAL_PATH


def path_of(url: str | None, host: str) -> str | None:
    """The same-site path (with query) of a full URL on `host` (e.g. htmx's HX-Current-URL), else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != host:
        return None
    return return_path(parts.path + (f"?{parts.query}" if parts.query else ""))


def return_path(target: str | None) -> str | None:
    """A same-site path to come back to after Checkout or the Portal (webapp.redirects), if short enough."""
    path = same_site_path(target)
    return path if path and len(path) <= MAX_RETURN_PATH else None
