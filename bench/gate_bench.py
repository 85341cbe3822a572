"""Benchmark the entitlement gate: gated vs ungated single commits, and the SQL statements the gate adds.

Run from the repository root:  python bench/gate_bench.py [--requests 400] [--rounds 5]
It measures on SQLite (a temporary file) and on PostgreSQL (BENCH_DATABASE_URL, default the local
test database, in its own schema; skipped if it does not answer), in-process through Flask's test
client, one request at a time, and rewrites its section of bench/results.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import create_engine, delete, event, text  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.billing.plans import FIRM  # noqa: E402
from webapp.config import TestConfig, normalise_database_url  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Entitlement, UsageMonthly  # noqa: E402

RESULTS = ROOT / "bench" / "results.md"
START, END = "<!-- gate_bench:start -->", "<!-- gate_bench:end -->"
PG_DEFAULT = "postgresql+psycopg://127.0.0.1:5432/test"
PG_SCHEMA = "aibk_bench"
BATCH = 1000  # the API's per-request limit for imports and proposals


@dataclass
class Tenant:
    """A signed-up tenant on the firm plan with proposed entries waiting to be committed."""

    client: FlaskClient
    headers: dict[str, str]
    tenant_id: str
    je_ids: list[str]


@dataclass
class BackendResult:
    """What one backend measured."""

    name: str
    gated_rps: list[float]
    ungated_rps: list[float]
    gated_statements: list[str]
    ungated_statements: list[str]
    first_of_month_statements: int

    @property
    def ratio(self) -> float:
        """Median gated throughput over median ungated throughput."""
        return statistics.median(self.gated_rps) / statistics.median(self.ungated_rps)


def postgres_url() -> str | None:
    """The PostgreSQL URL (own schema) if one answers, else None."""
    base = normalise_database_url(os.environ.get("BENCH_DATABASE_URL", PG_DEFAULT))
    try:
        engine = create_engine(base, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
            version = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    except Exception as exc:  # noqa: BLE001  (any failure: report and skip PostgreSQL)
        print(f"PostgreSQL not available ({type(exc).__name__}); measuring SQLite only", file=sys.stderr)
        return None
    os.environ["BENCH_PG_VERSION"] = str(version)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{PG_SCHEMA}"


@contextmanager
def app_for(url: str, gate: bool) -> Iterator[Flask]:
    """The app with the gate on or off, quiet logs, inside an app context."""
    app = create_app(TestConfig(database_url=url, GATE_ENABLED=gate, LOG_LEVEL="WARNING"))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def make_tenant(app: Flask, n: int, email: str) -> Tenant:
    """Sign up, set the firm plan (as the Stripe webhook would), import and propose n transactions."""
    client = app.test_client()
    body = client.post("/api/auth/signup", json={"email": email, "password": "benchpass123",
                                                 "full_name": "Bench"}).get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    ent = db.session.get(Entitlement, body["tenant_id"])
    ent.plan, ent.active, ent.subscription_status = FIRM.key, True, "active"
    ent.tx_cap, ent.bulk_approve = FIRM.tx_cap, FIRM.bulk_approve
    db.session.commit()
    je_ids: list[str] = []
    for start in range(0, n, BATCH):
        rows = [{"id": f"b{i}", "date": "2025-01-15", "description": f"Office supplies {i}", "amount_cents": -100 - i}
                for i in range(start, min(n, start + BATCH))]
        assert client.post("/api/transactions", json={"transactions": rows}, headers=headers).status_code == 201
        resp = client.post("/api/post/propose", json={"txn_ids": [r["id"] for r in rows]}, headers=headers)
        je_ids += [e["je_id"] for e in resp.get_json()["data"]]
    return Tenant(client, headers, body["tenant_id"], je_ids)


def commit(t: Tenant, je_id: str) -> None:
    """One single commit, which must succeed."""
    resp = t.client.post("/api/post/commit", json={"je_ids": [je_id]}, headers=t.headers)
    assert resp.status_code == 200, resp.get_json()


def statements_of_one_commit(t: Tenant, je_id: str) -> list[str]:
    """The SQL statements one commit request sends, in order (first words only)."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(label(statement))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        commit(t, je_id)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def label(statement: str) -> str:
    """'SELECT entitlements', 'UPDATE usage_monthly', 'INSERT usage_monthly': verb and main table."""
    verb = statement.split()[0].upper()
    pattern = {"SELECT": r"\bFROM\s+(\w+)", "UPDATE": r"^UPDATE\s+(\w+)", "INSERT": r"^INSERT\s+INTO\s+(\w+)",
               "DELETE": r"^DELETE\s+FROM\s+(\w+)"}.get(verb)
    match = re.search(pattern, statement, re.IGNORECASE) if pattern else None
    return f"{verb} {match.group(1)}" if match else verb


def timed(t: Tenant, je_ids: list[str]) -> float:
    """Requests per second over these single commits."""
    began = time.perf_counter()
    for je in je_ids:
        commit(t, je)
    return len(je_ids) / (time.perf_counter() - began)


def measure(name: str, url: str, requests: int, rounds: int) -> BackendResult:
    """Alternate gated and ungated rounds on one database; count statements on warm requests."""
    with app_for(url, gate=True):
        db.drop_all()
        db.create_all()
    need = requests * rounds + 30
    with app_for(url, gate=True) as app:
        gated = make_tenant(app, need, f"gated-{name}@example.com")
    with app_for(url, gate=False) as app:
        ungated = make_tenant(app, need, f"ungated-{name}@example.com")
    result = BackendResult(name, [], [], [], [], 0)
    for r in range(rounds):
        for tenant, gate, sink in ((gated, True, result.gated_rps), (ungated, False, result.ungated_rps)):
            with app_for(url, gate=gate) as app:
                tenant.client = app.test_client()
                batch = tenant.je_ids[r * requests + 20:(r + 1) * requests + 20]
                for je in tenant.je_ids[r * requests:r * requests + 20] if r == 0 else []:
                    commit(tenant, je)  # warm-up: pools, caches, the token's last_used_at
                sink.append(timed(tenant, batch))
    for tenant, gate in ((gated, True), (ungated, False)):
        with app_for(url, gate=gate) as app:
            tenant.client = app.test_client()
            statements = statements_of_one_commit(tenant, tenant.je_ids[-1 - int(gate)])
            if gate:
                result.gated_statements = statements
                db.session.execute(delete(UsageMonthly).where(UsageMonthly.tenant_id == tenant.tenant_id))
                db.session.commit()
                result.first_of_month_statements = len(statements_of_one_commit(tenant, tenant.je_ids[-3]))
            else:
                result.ungated_statements = statements
    return result


def added_by_gate(r: BackendResult) -> list[str]:
    """The statements in the gated request that the ungated one does not send."""
    rest = list(r.ungated_statements)
    extra = []
    for s in r.gated_statements:
        if s in rest:
            rest.remove(s)
        else:
            extra.append(s)
    return extra


def report(results: list[BackendResult], requests: int, rounds: int) -> str:
    """The markdown section for bench/results.md."""
    lines = [
        START, "## Entitlement gate (`python bench/gate_bench.py`)", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
        + (f", PostgreSQL {os.environ['BENCH_PG_VERSION']}" if "BENCH_PG_VERSION" in os.environ else "") + ".",
        f"`POST /api/post/commit` with one entry per request (firm plan, far below its cap), in-process through "
        f"Flask's test client, one request at a time: {rounds} alternating rounds of {requests} requests per mode; "
        "the median round is shown. \"Gate off\" is the same route with `GATE_ENABLED=0` (no entitlement "
        "read, no counting). Statements are counted with SQLAlchemy's `before_cursor_execute` event.", "",
        "| backend | gated req/s | gate off req/s | ratio | statements per request (gated / off) "
        "| added by the gate | first commit of a month |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        extra = added_by_gate(r)
        lines.append(
            f"| {r.name} | {statistics.median(r.gated_rps):.0f} | {statistics.median(r.ungated_rps):.0f} "
            f"| {r.ratio:.2f} | {len(r.gated_statements)} / {len(r.ungated_statements)} "
            f"| {len(extra)}: {'; '.join(f'`{s}`' for s in extra)} "
            f"| {r.first_of_month_statements - len(r.ungated_statements)} added |")
    lines += ["", "Rounds (req/s, gated | off): " + "; ".join(
        f"{r.name} {', '.join(f'{x:.0f}' for x in r.gated_rps)} | {', '.join(f'{x:.0f}' for x in r.ungated_rps)}"
        for r in results),
        "", "Target: the gate adds at most 2 statements per request. The steady state is the entitlement read "
        "and the one conditional `UPDATE usage_monthly ... WHERE tx_posted + n <= cap`; the first commit of "
        "a month adds `INSERT ... ON CONFLICT DO NOTHING` and the `UPDATE` once more.", END]
    return "\n".join(lines) + "\n"


def write_section(section: str) -> None:
    """Replace this benchmark's section of bench/results.md (or append it), leaving others alone."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n\nEach section is rewritten by its script.\n"
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(new)


def main() -> int:
    """Measure every available backend and rewrite the results section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", f"sqlite:///{tmp}/bench.db")]
        pg = postgres_url()
        if pg:
            backends.append(("PostgreSQL", pg))
        for name, url in backends:
            print(f"measuring {name} ...", file=sys.stderr)
            results.append(measure(name, url, args.requests, args.rounds))
    section = report(results, args.requests, args.rounds)
    write_section(section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
