"""Create — or find by lookup key — the Stripe products and prices; print their ids and the .env lines.

Usage: STRIPE_SECRET_KEY=sk_test_... python scripts/stripe_bootstrap.py
A live key (sk_live_...) asks you to type 'yes' first; without a terminal it aborts.
"""
from __future__ import annotations

import sys

from _app import ensure_project_python, make_app


def main() -> int:
    """Run the bootstrap; 0 on success, 1 with a message otherwise."""
    import click

    app = make_app()
    from webapp.billing.cli import run_bootstrap

    with app.app_context():
        try:
            run_bootstrap()
        except click.ClickException as exc:
            print(f"Error: {exc.message}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    ensure_project_python()
    sys.exit(main())
