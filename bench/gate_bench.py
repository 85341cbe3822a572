"""Benchmark the entitlement gate: gated vs ungated single commits, and the SQL statements the gate adds.

Run from the repository root:  python bench/gate_bench.py [--requests 2000] [--block 50]
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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import delete, event  # noqa: E402

from benchlib import postgres_url, write_section  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.billing.plans import FIRM  # noqa: E402
from webapp.config import TestConfig  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import Entitlement, UsageMonthly  # noqa: E402

START, END = "<!-- gate_bench:start -->", "<!-- gate_bench:end -->"
PG_SCHEMA = "aibk_bench"
BATCH = 1000  # the API's per-request limit for imports and proposals
WARM_UP = 20


@dataclass
class Tenant:
    """A signed-up tenant on the firm plan, its app, and proposed entries waiting to be committed."""

    app: Flask
    client: FlaskClient
    headers: dict[str, str]
    tenant_id: str
    je_ids: list[str]

    def next_ids(self, n: int) -> list[str]:
        """Take n entries that were never committed."""
        taken, self.je_ids = self.je_ids[:n], self.je_ids[n:]
        return taken


@dataclass
class BackendResult:
    """What one backend measured."""

    name: str
    gated_seconds: float = 0.0
    ungated_seconds: float = 0.0
    requests: int = 0
    block_ratios: list[float] = field(default_factory=list)
    gated_statements: list[str] = field(default_factory=list)
    ungated_statements: list[str] = field(default_factory=list)
    first_of_month_statements: list[str] = field(default_factory=list)
    # POST /api/post/propose of one transaction: (gated, ungated) statements, paid tenant and free tenant.
    propose_paid: tuple[list[str], list[str]] = ([], [])
    propose_free: tuple[list[str], list[str]] = ([], [])

    @property
    def gated_rps(self) -> float:
        """Gated requests per second over all blocks."""
        return self.requests / self.gated_seconds

    @property
    def ungated_rps(self) -> float:
        """Ungated requests per second over all blocks."""
        return self.requests / self.ungated_seconds


def make_app(url: str, gate: bool) -> Flask:
    """The app with the gate on or off and quiet logs."""
    return create_app(TestConfig(database_url=url, GATE_ENABLED=gate, LOG_LEVEL="WARNING"))


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
    return Tenant(app, client, headers, body["tenant_id"], je_ids)


def commit(t: Tenant, je_id: str) -> None:
    """One single commit, which must succeed."""
    resp = t.client.post("/api/post/commit", json={"je_ids": [je_id]}, headers=t.headers)
    assert resp.status_code == 200, resp.get_json()


def recorded(action: Callable[[], None]) -> list[str]:
    """The SQL statements `action` sends, in order (verb and table)."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(label(statement))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return seen


def statements_of_one_commit(t: Tenant, first_of_month: bool = False) -> list[str]:
    """The SQL statements one commit request sends, in order (verb and table).

    A warm-up commit first keeps the token's once-a-minute last_used_at write out of the measured
    request; with first_of_month the month's usage row is deleted, as if the month had just begun.
    """
    warm, measured = t.next_ids(2)
    commit(t, warm)
    if first_of_month:
        db.session.execute(delete(UsageMonthly).where(UsageMonthly.tenant_id == t.tenant_id))
        db.session.commit()
    return recorded(lambda: commit(t, measured))


def statements_of_one_propose(app: Flask, email: str, paid: bool) -> list[str]:
    """The SQL statements a warm propose of one transaction sends, for a new paid (firm) or free tenant."""
    with app.app_context():
        t = make_tenant(app, 1, email) if paid else make_free_tenant(app, email)
        txn = "b0"

        def propose() -> None:
            resp = t.client.post("/api/post/propose", json={"txn_ids": [txn]}, headers=t.headers)
            assert resp.status_code == 200, resp.get_json()

        propose()  # warm: the day's and month's usage rows exist, the token's last_used_at is fresh
        seen = recorded(propose)
        db.session.remove()
        return seen


def make_free_tenant(app: Flask, email: str) -> Tenant:
    """Sign up (free tier) and import one transaction."""
    client = app.test_client()
    body = client.post("/api/auth/signup", json={"email": email, "password": "benchpass123",
                                                 "full_name": "Bench"}).get_json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    row = {"id": "b0", "date": "2025-01-15", "description": "Office supplies", "amount_cents": -100}
    assert client.post("/api/transactions", json={"transactions": [row]}, headers=headers).status_code == 201
    return Tenant(app, client, headers, body["tenant_id"], [])


def label(statement: str) -> str:
    """'SELECT api_tokens+entitlements', 'UPDATE usage_monthly', 'INSERT usage_monthly': verb and tables."""
    verb = statement.split()[0].upper()
    if verb == "SELECT":
        tables = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", statement, re.IGNORECASE)
        return "SELECT " + "+".join(dict.fromkeys(tables)) if tables else verb
    pattern = {"UPDATE": r"^UPDATE\s+(\w+)", "INSERT": r"^INSERT\s+INTO\s+(\w+)",
               "DELETE": r"^DELETE\s+FROM\s+(\w+)"}.get(verb)
    match = re.search(pattern, statement, re.IGNORECASE) if pattern else None
    return f"{verb} {match.group(1)}" if match else verb


def timed(t: Tenant, n: int) -> float:
    """Seconds taken by n single commits."""
    ids = t.next_ids(n)
    began = time.perf_counter()
    for je in ids:
        commit(t, je)
    return time.perf_counter() - began


def measure(name: str, url: str, requests: int, block: int) -> BackendResult:
    """Alternate blocks of gated and ungated commits (so machine noise hits both alike), then count statements."""
    gated_app, ungated_app = make_app(url, gate=True), make_app(url, gate=False)
    with gated_app.app_context():
        db.drop_all()
        db.create_all()
        gated = make_tenant(gated_app, requests + WARM_UP + 10, f"gated-{name}@example.com")
    with ungated_app.app_context():
        ungated = make_tenant(ungated_app, requests + WARM_UP + 10, f"ungated-{name}@example.com")
    result = BackendResult(name)
    for tenant in (gated, ungated):
        timed(tenant, WARM_UP)
    for i in range(requests // block):
        pair = (gated, ungated) if i % 2 == 0 else (ungated, gated)
        took = {id(t): timed(t, block) for t in pair}
        result.gated_seconds += took[id(gated)]
        result.ungated_seconds += took[id(ungated)]
        result.block_ratios.append(took[id(ungated)] / took[id(gated)])
        result.requests += block
    with gated_app.app_context():
        result.gated_statements = statements_of_one_commit(gated)
        result.first_of_month_statements = statements_of_one_commit(gated, first_of_month=True)
        db.session.remove()
        db.engine.dispose()
    with ungated_app.app_context():
        result.ungated_statements = statements_of_one_commit(ungated)
        db.session.remove()
    result.propose_paid = (statements_of_one_propose(gated_app, f"pp-{name}@example.com", paid=True),
                           statements_of_one_propose(ungated_app, f"pu-{name}@example.com", paid=True))
    result.propose_free = (statements_of_one_propose(gated_app, f"fp-{name}@example.com", paid=False),
                           statements_of_one_propose(ungated_app, f"fu-{name}@example.com", paid=False))
    for app in (gated_app, ungated_app):
        with app.app_context():
            db.engine.dispose()
    return result


def added_by_gate(gated: list[str], ungated: list[str]) -> list[str]:
    """The statements in the gated request that the ungated one does not send."""
    rest = list(ungated)
    extra = []
    for s in gated:
        if s in rest:
            rest.remove(s)
        else:
            extra.append(s)
    return extra


def gate_cell(gated: list[str], ungated: list[str]) -> str:
    """How many statements the gate adds, and which; a statement it widens (a read it joins) says what it was."""
    was = added_by_gate(ungated, gated)
    parts = []
    for s in added_by_gate(gated, ungated):
        base = next((w for w in was if s.startswith(w + "+")), None)
        if base is not None:
            was.remove(base)
            parts.append(f"`{s}` (was `{base}`)")
        else:
            parts.append(f"`{s}`")
    return f"**{len(gated) - len(ungated)}**: {', '.join(parts)}"


def report(results: list[BackendResult], requests: int, block: int) -> str:
    """The markdown section for bench/results.md."""
    lines = [
        START, "## Entitlement gate (`python bench/gate_bench.py`)", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
        + (f", PostgreSQL {os.environ['BENCH_PG_VERSION']}" if "BENCH_PG_VERSION" in os.environ else "") + ".",
        f"`POST /api/post/commit` with one entry per request (firm plan, far below its cap), in-process through "
        f"Flask's test client, one request at a time: {requests} requests per mode, in alternating blocks of "
        f"{block} so machine noise hits both modes alike. \"Gate off\" is the same route with `GATE_ENABLED=0` "
        "(no entitlement read, no counting). Statements are counted with SQLAlchemy's `before_cursor_execute` "
        "event on a warm request.", "",
        "| backend | gated req/s | gate off req/s | ratio (gated/off) | block ratios (min–median–max) "
        "| statements per request (gated / off) | added by the gate | added on a month's first commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ratios = sorted(r.block_ratios)
        lines.append(
            f"| {r.name} | {r.gated_rps:.0f} | {r.ungated_rps:.0f} | {r.gated_rps / r.ungated_rps:.2f} "
            f"| {ratios[0]:.2f}–{statistics.median(ratios):.2f}–{ratios[-1]:.2f} "
            f"| {len(r.gated_statements)} / {len(r.ungated_statements)} "
            f"| {gate_cell(r.gated_statements, r.ungated_statements)} "
            f"| {gate_cell(r.first_of_month_statements, r.ungated_statements).replace('**', '')} |")
    lines += [
        "", "Target: the gate adds at most 2 statements per request. In the steady state it adds the one "
        "conditional `UPDATE usage_monthly SET tx_posted = tx_posted + n WHERE ... AND tx_posted + n <= cap`, "
        "whose row count decides; its entitlement read rides on the Bearer token's read (the same SELECT joins "
        "the tenant's entitlement and open override), so it costs no round trip of its own. Only the first "
        "commit of a month, when the UPDATE finds no row, adds `INSERT ... ON CONFLICT DO NOTHING` and the "
        "UPDATE once more.", "",
        "Proposals are gated too (counted, and capped per UTC day on the free tier); statements a warm "
        "`POST /api/post/propose` of one transaction adds:", "",
        "| backend | paid tenant: added by the gate | free tenant: added by the gate |", "|---|---|---|"]
    for r in results:
        cells = []
        for gated, ungated in (r.propose_paid, r.propose_free):
            cells.append(gate_cell(gated, ungated))
        lines.append(f"| {r.name} | {cells[0]} | {cells[1]} |")
    lines += [
        "", "A free-tier proposal adds 2: the day's conditional `UPDATE usage_daily ... WHERE tx_analyzed + n "
        "<= 50` that decides, and the month's `tx_analyzed` count (a second table, so a second statement); the "
        "entitlement read joins the token's, as for commits.", END]
    return "\n".join(lines) + "\n"


def main() -> int:
    """Measure every available backend and rewrite the results section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="commits per mode")
    parser.add_argument("--block", type=int, default=50, help="commits per alternating block")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", f"sqlite:///{tmp}/bench.db")]
        pg = postgres_url(PG_SCHEMA)
        if pg:
            backends.append(("PostgreSQL", pg))
        for name, url in backends:
            print(f"measuring {name} ...", file=sys.stderr)
            results.append(measure(name, url, args.requests, args.block))
    section = report(results, args.requests, args.block)
    write_section(START, END, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
