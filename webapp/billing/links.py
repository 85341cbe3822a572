"""Where the app sends a tenant to pay: the plan picker and the Billing Portal (used in paywall answers)."""
from __future__ import annotations

# Routes of the billing blueprint; kept here so services can name them without a request context.
PLANS_PATH = "/billing/plans"
PORTAL_PATH = "/api/billing/portal"


def upgrade_url() -> str:
    """The plan picker, where a tenant chooses a paid plan."""
    return PLANS_PATH


def portal_url() -> str:
    """The Billing Portal redirect, where a tenant updates the card or changes plan."""
    return PORTAL_PATH
