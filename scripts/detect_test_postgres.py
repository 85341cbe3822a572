"""Print the test PostgreSQL URL when PostgreSQL answers on 127.0.0.1:5432 (database `test`), else nothing.

`make test` uses it to run the database tests on PostgreSQL as well as SQLite wherever one is running.
"""
from __future__ import annotations

import os
import sys

from _app import ensure_project_python

URL = os.environ.get("TEST_PG_CANDIDATE", "postgresql+psycopg://127.0.0.1:5432/test")


def main() -> int:
    """Print URL if a connection succeeds within two seconds."""
    try:
        import psycopg
    except ImportError:
        return 0
    dsn = URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001  (any failure means: no PostgreSQL to test on)
        return 0
    print(URL)
    return 0


if __name__ == "__main__":
    ensure_project_python()
    sys.exit(main())
