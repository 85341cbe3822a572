"""Where the app sends a tenant to pay: the plan picker and the Billing Portal (used in paywall answers)."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

# Routes of the billing blueprint; kept here so services can name them without a request context.
PLANS_PATH = "/billing/plans"
PORTAL_PATH = "/api/billing/portal"


def upgrade_url() -> str:
    """The plan picker, where a tenant chooses a paid plan."""
    return PLANS_PATH


def portal_url() -> str:
    """The Billing Portal redirect, where a tenant updates the card or changes plan."""
    return PORTAL_PATH


_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
MAX_RETURN_PATH = 500


def same_site_path(target: str | None) -> str | None:
    """`target` as the same-site path a browser would follow after a redirect, or None if it could
    leave the site (another host, a scheme, `//host`, backslashes read as slashes, control characters)."""
    if not target or len(target) > MAX_RETURN_PATH:
        return None
    path = _TAB_OR_NEWLINE.sub("", target.strip(_C0_OR_SPACE)).replace("\\", "/")
    if (not path.startswith("/") or path.startswith("//") or _SCHEME.match(path)
            or _CONTROL.search(path) or urlsplit(path).netloc):
        return None
    return path


def path_of(url: str | None, host: str) -> str | None:
    """The same-site path (with query) of a full URL on `host` (e.g. htmx's HX-Current-URL), else None."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != host:
        return None
    return same_site_path(parts.path + (f"?{parts.query}" if parts.query else ""))
