"""Where the app may send a browser: same-site paths only, and absolute links built from configuration.

A `next` (or any return path a request brings) is read the way a browser will read it in a Location
header — tabs and newlines dropped, outer spaces and control characters stripped, backslashes taken
as slashes — and accepted only if it is then a path on this site. Absolute URLs that leave the app
(Checkout's return links, the Billing Portal's) come from BILLING_RETURN_URL, or SERVER_NAME with
PREFERRED_URL_SCHEME; the Host header is trusted for them only in debug runs.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import current_app

from webapp.errors import BillingUnavailable

_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def same_site_path(target: str | None) -> str | None:
    """`target` as the same-site path a browser would follow, or None if it could leave the site."""
    if not target:
        return None
    path = _TAB_OR_NEWLINE.sub("", target.strip(_C0_OR_SPACE)).replace("\\", "/")
    if (not path.startswith("/") or path.startswith("//") or _SCHEME.match(path)
            or _CONTROL.search(path) or urlsplit(path).netloc):
        return None
    return path


def public_base_url(request_base: str) -> str:
    """The app's public origin (scheme://host[:port]) for links that leave it, from configuration.

    BILLING_RETURN_URL's origin, else PREFERRED_URL_SCHEME://SERVER_NAME; `request_base` (the
    request's own host, which the client chooses) only in a debug run. Without either in production it is BILLING_UNAVAILABLE, never the Host header.
    """
    configured = current_app.config.get("BILLING_RETURN_URL")
    if configured:
        parts = urlsplit(configured)
        return f"{parts.scheme}://{parts.netloc}"
    server_name = current_app.config.get("SERVER_NAME")
    if server_name:
        return f"{current_app.config.get('PREFERRED_URL_SCHEME') or 'https'}://{server_name}"
    if current_app.debug:
        return request_base.rstrip("/")
    raise BillingUnavailable("The app's public address is not configured: set BILLING_RETURN_URL "
                             "(or SERVER_NAME and PREFERRED_URL_SCHEME).")


def portal_return_url(request_base: str) -> str:
    """Where the Billing Portal's return link goes: BILLING_RETURN_URL as given, else the billing page."""
    return current_app.config.get("BILLING_RETURN_URL") or f"{public_base_url(request_base)}/billing"
