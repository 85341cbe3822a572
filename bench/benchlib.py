"""What the benchmarks share: the PostgreSQL they measure on (own schema) and their sections of bench/results.md."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from webapp.config import normalise_database_url

RESULTS = Path(__file__).resolve().parent / "results.md"
PG_DEFAULT = "postgresql+psycopg://127.0.0.1:5432/test"
HEADER = "# Benchmarks\n\nEach section is rewritten by its script.\n"


def _admin_engine():  # type: ignore[no-untyped-def]
    base = normalise_database_url(os.environ.get("BENCH_DATABASE_URL", PG_DEFAULT))
    return base, create_engine(base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2})


def postgres_url(schema: str) -> str | None:
    """BENCH_DATABASE_URL (default the local test database) in a fresh `schema`, or None if it does not answer.

    Sets BENCH_PG_VERSION for the report.
    """
    base, engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            version = conn.execute(text("SHOW server_version")).scalar()
    except Exception as exc:  # noqa: BLE001  (any failure: report and skip PostgreSQL)
        print(f"PostgreSQL not available ({type(exc).__name__}); measuring SQLite only", file=sys.stderr)
        return None
    finally:
        engine.dispose()
    os.environ["BENCH_PG_VERSION"] = str(version)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


def drop_pg_schema(schema: str) -> None:
    """Leave the shared PostgreSQL as it was found."""
    _, engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


def write_section(start: str, end: str, section: str) -> None:
    """Replace the section between the `start` and `end` markers of bench/results.md (or append it)."""
    old = RESULTS.read_text() if RESULTS.exists() else HEADER
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(new)
