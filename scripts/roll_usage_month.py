"""Monthly usage rollover, for cron: `0 0 1 * * python scripts/roll_usage_month.py >> logs/rollover.log 2>&1`.

Usage: python scripts/roll_usage_month.py [--month YYYY-MM] [--verbose]
Safe to run again: a month is rolled over once (the app's scheduler may already have done it).
"""
from __future__ import annotations

import argparse
import sys

from _app import ensure_project_python, make_app


def main(argv: list[str]) -> int:
    """Roll over and print the runbook's report; 1 with a message for a bad month."""
    parser = argparse.ArgumentParser(description="Start the month's usage counters at zero for every tenant.")
    parser.add_argument("--month", help="YYYY-MM (default: the current UTC month)")
    parser.add_argument("--verbose", action="store_true",
                        help="a line per tenant even past 50 tenants (otherwise counts)")
    args = parser.parse_args(argv)
    app = make_app()
    from webapp.errors import DomainError
    from webapp.metering import rollover

    with app.app_context():
        try:
            result = rollover.roll_usage_month(args.month, trigger="scripts/roll_usage_month.py")
        except DomainError as exc:
            print(f"✗ {exc.message}", file=sys.stderr)
            return 1
        for line in rollover.report(result, verbose=args.verbose):  # reads the month's rows: inside the context
            print(line)
    return 0


if __name__ == "__main__":
    ensure_project_python()
    sys.exit(main(sys.argv[1:]))
