"""Manually reactivate a tenant's subscription: an audited override of its Stripe plan, status active.

It lasts until Stripe reports the next paid invoice or 7 days (--days N), whichever comes first; Stripe's
own state is still recorded meanwhile, and `flask billing show TENANT` shows both.

Usage: python scripts/admin_reactivate_subscription.py TENANT [--days N] [--reason TEXT] [--actor NAME]
                                                       [--dry-run] [--json]
TENANT is a tenant id or the email of one of its users. Refusals print one line and exit 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from _app import ensure_project_python, make_app


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line (argparse exits 2 on a malformed one)."""
    from webapp.ops.support_cli import REACTIVATE_REASON

    parser = argparse.ArgumentParser(prog="scripts/admin_reactivate_subscription.py",
                                     description="Reactivate a tenant's subscription by hand (an audited override).")
    parser.add_argument("tenant", help="tenant id or a user's email")
    parser.add_argument("--days", type=int, default=None, help="length in days (default 7, or the next paid invoice)")
    parser.add_argument("--reason", default=REACTIVATE_REASON, help="why (kept on the audit row)")
    parser.add_argument("--actor", default=None, help="who (default: the OS user)")
    parser.add_argument("--dry-run", action="store_true", help="show what would change; save nothing")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Reactivate; 0 when done, 2 (one line, nothing changed) for an unknown tenant or a free-plan tenant."""
    args = parse(argv)
    app = make_app()
    from webapp.errors import DomainError
    from webapp.ops import support, support_cli

    with app.app_context():
        try:
            result = support.reactivate(args.tenant, actor=support_cli.who(args.actor), reason=args.reason,
                                        days=args.days, dry_run=args.dry_run)
        except DomainError as exc:
            print(f"✗ {exc.message} Nothing changed.", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print("\n".join(support_cli.reactivation_lines(result)))
    return 0


if __name__ == "__main__":
    ensure_project_python()
    sys.exit(main(sys.argv[1:]))
