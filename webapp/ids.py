"""Prefixed random identifiers (`tenant_…`, `user_…`), readable in logs and support tickets."""
from __future__ import annotations

import secrets


def new_id(prefix: str) -> str:
    """Return `prefix_` followed by 16 random hex characters."""
    return f"{prefix}_{secrets.token_hex(8)}"
