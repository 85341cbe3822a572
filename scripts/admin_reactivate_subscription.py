"""Manually reactivate a tenant's subscription (active / active), audited.

Usage: python scripts/admin_reactivate_subscription.py TENANT_ID
"""
from __future__ import annotations

import sys

from _app import ensure_project_python, make_app


def main(argv: list[str]) -> int:
    """Reactivate argv[0]; exit 1 with a clear message for a missing or unknown tenant."""
    if len(argv) != 1:
        print("Usage: python scripts/admin_reactivate_subscription.py TENANT_ID", file=sys.stderr)
        return 2
    tenant_id = argv[0]
    app = make_app()
    from webapp.billing import operations
    from webapp.errors import DomainError, NotFound

    with app.app_context():
        try:
            operations.reactivate(tenant_id, actor="scripts/admin_reactivate_subscription.py")
        except NotFound:
            print(f"✗ No tenant {tenant_id}: nothing changed.", file=sys.stderr)
            return 1
        except DomainError as exc:
            print(f"✗ {exc.message} Nothing changed.", file=sys.stderr)
            return 1
    print(f"✓ Reactivated subscription for {tenant_id}")
    return 0


if __name__ == "__main__":
    ensure_project_python()
    sys.exit(main(sys.argv[1:]))
