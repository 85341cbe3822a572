"""Benchmark the hot paths over real HTTP against a bare floor app, under gunicorn, with wrk.

Run from the repository root:  python bench/http_bench.py [--duration 3] [--rounds 3]
(the issue's method is `--duration 10`; the default keeps the whole run under ~10 minutes).

On SQLite (a temporary file) and PostgreSQL (BENCH_DATABASE_URL, default the local test database, in
its own schema; skipped if it does not answer), for gunicorn `sync` (2 workers) and `gthread` (2 workers
× 4 threads), it serves the product (bench/product_wsgi.py: the real app, production Config) and the
floor (bench/floor_app.py: one conditional UPDATE ... RETURNING on a hot row of the same database) side
by side, and drives them with `wrk -t2 -c16` in alternating blocks: floor, commit, floor, propose,
floor, webhook stored, floor, webhook applied, floor. Each product block is divided by the mean of the
floor blocks on either side of it; the table shows the median of the rounds. Every product request is
a different one (an entry never committed, a transaction never proposed, an event never seen), and a
block with any non-200 answer or that ran out of prepared requests is reported as invalid.

Then, per backend and server, the cap check: a starter tenant (300 postings a month) with 400 proposed
entries, committed one per request by 32 and then 50 concurrent HTTP clients (threads: not timed, and
every answer is awaited); it checks that exactly 300 were granted (200 answers = posted entries = the
month's counter).

The Stripe emulator runs in this process for the `customer.subscription.updated` webhooks, which re-read
the subscription from it. Rewrites its section of bench/results.md.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import stripe  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import case, func, select  # noqa: E402

import floor_app  # noqa: E402
from benchlib import drop_pg_schema, postgres_url, write_section  # noqa: E402
from stripe_emulator import EmulatorServer  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.billing import bootstrap  # noqa: E402
from webapp.billing.plans import FIRM, STARTER  # noqa: E402
from webapp.config import TestConfig  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import BillingEvent, Entitlement, JournalEntry, UsageMonthly  # noqa: E402

START, END = "<!-- http_bench:start -->", "<!-- http_bench:end -->"
PG_SCHEMA = "aibk_http_bench"
SECRET = "whsec_http_bench"
KEY = "sk_test_http_bench"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
LUA = BENCH / "wrk_requests.lua"
THREADS, CONNECTIONS = 2, 16
BATCH = 1000  # the API's per-request limit for imports and proposals
PATHS = ("commit", "propose", "webhook_stored", "webhook_applied")
PATH_NAMES = {"commit": "`POST /api/post/commit` (one entry)", "propose": "`POST /api/post/propose` (one transaction)",
              "webhook_stored": "webhook, stored and ignored", "webhook_applied": "webhook, `customer.subscription.updated`"}
SERVERS = {"sync": ["--workers", "2", "--worker-class", "sync"],
           "gthread": ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]}
SERVER_NAMES = {"sync": "sync", "gthread": "gthread 2×4"}
CAP_CLIENTS = (32, 50)
# Bank descriptions the seeded transactions cycle through, so the proposer's history lookups see a
# bookkeeper's mix of counterparties rather than one pattern shared by every transaction.
MERCHANTS = ("Office Depot", "AWS EMEA", "Uber trip", "Staples", "Google Workspace", "Slack", "Shell fuel",
             "Delta Air Lines", "Marriott", "Comcast", "Verizon Wireless", "FedEx", "UPS", "Adobe", "Zoom",
             "Starbucks", "Home Depot", "Dropbox", "LinkedIn ads", "Hertz rental")


@dataclass
class Block:
    """One wrk run: requests per second, 200 answers, other answers, and whether it ran out of requests."""

    rps: float
    ok: int
    other: int
    wrapped: bool

    @property
    def valid(self) -> bool:
        """Every answer a 200 and every request a fresh one."""
        return self.other == 0 and not self.wrapped and self.ok > 0


@dataclass
class ConfigResult:
    """What one backend × server measured."""

    backend: str
    server: str
    floor: list[float] = field(default_factory=list)
    product: dict[str, list[Block]] = field(default_factory=lambda: {p: [] for p in PATHS})
    ratios: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PATHS})
    caps: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # clients → (200s, posted, counter)


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sign(payload: str) -> str:
    """A Stripe-Signature header for the payload, as Stripe computes it."""
    t = int(time.time())
    return f"t={t},v1=" + hmac.new(SECRET.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Tenant:
    """A signed-up tenant the bench drives: its token, and pools of work never done yet."""

    tenant_id: str
    token: str
    client: FlaskClient
    headers: dict[str, str]
    next_txn: int = 0
    unproposed: list[str] = field(default_factory=list)  # client ids of imported, never proposed transactions
    uncommitted: list[str] = field(default_factory=list)  # proposed entries never committed


class Seeder:
    """Prepares data in-process through the app's own API (test client), outside the timed blocks."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.count = 0

    def signup(self, plan: str, cap: int | None = None) -> Tenant:
        """A new tenant on `plan` (set as the Stripe webhook would); `cap` overrides the monthly cap."""
        self.count += 1
        client = self.app.test_client()
        body = client.post("/api/auth/signup", json={"email": f"bench{self.count}-{time.time_ns()}@example.com",
                                                     "password": "benchpass123", "full_name": "Bench"}).get_json()
        limits = {"firm": FIRM, "starter": STARTER}[plan]
        ent = db.session.get(Entitlement, body["tenant_id"])
        ent.plan, ent.active, ent.subscription_status = limits.key, True, "active"
        ent.tx_cap, ent.bulk_approve = cap if cap is not None else limits.tx_cap, limits.bulk_approve
        db.session.commit()
        return Tenant(body["tenant_id"], body["token"], client, {"Authorization": f"Bearer {body['token']}"})

    def import_txns(self, t: Tenant, n: int) -> list[str]:
        """Import n new transactions; their client ids."""
        ids: list[str] = []
        while len(ids) < n:
            size = min(BATCH, n - len(ids))
            rows = [{"id": f"b{t.next_txn + i}", "date": "2025-01-15",
                     "description": f"{MERCHANTS[(t.next_txn + i) % len(MERCHANTS)]} {t.next_txn + i}",
                     "amount_cents": -100 - i} for i in range(size)]
            t.next_txn += size
            resp = t.client.post("/api/transactions", json={"transactions": rows}, headers=t.headers)
            assert resp.status_code == 201, resp.get_json()
            ids += [r["id"] for r in rows]
        return ids

    def ensure_unproposed(self, t: Tenant, n: int) -> None:
        """At least n transactions nobody proposed yet."""
        if len(t.unproposed) < n:
            t.unproposed += self.import_txns(t, n - len(t.unproposed))

    def ensure_uncommitted(self, t: Tenant, n: int) -> None:
        """At least n proposed entries nobody committed yet."""
        missing = n - len(t.uncommitted)
        while missing > 0:
            ids = self.import_txns(t, min(BATCH, missing))
            resp = t.client.post("/api/post/propose", json={"txn_ids": ids}, headers=t.headers)
            assert resp.status_code == 200, resp.get_json()
            t.uncommitted += [e["je_id"] for e in resp.get_json()["data"]]
            missing -= len(ids)


@contextmanager
def gunicorn(target: str, port: int, server: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """Serve `target` under gunicorn on 127.0.0.1:port until the block ends; its URL."""
    cmd = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", *SERVERS[server],
           "--pythonpath", f"{ROOT},{BENCH}", "--log-level", "warning", "--timeout", "60", target]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {target} exited with {proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers (404/405 is an answer)
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn {target} did not start; see {log}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_wrk(url: str, lines: list[str], workdir: Path, seconds: float, token: str = "",
            connections: int = CONNECTIONS) -> Block:
    """Drive url with wrk for `seconds`, each request the next prepared line."""
    path = workdir / "requests.txt"
    path.write_text("\n".join(lines) + "\n")
    cmd = [WRK, f"-t{THREADS}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(LUA), url, "--", str(path), str(THREADS), token]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    counts = re.search(r"BENCH ok=(\d+) other=(\d+) wrapped=(\d+)", out)
    if rps is None or counts is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return Block(float(rps.group(1)), int(counts.group(1)), int(counts.group(2)), counts.group(3) == "1")


class Workload:
    """The requests of each path for one block: fresh work, enough for the block at the best rate seen."""

    def __init__(self, seeder: Seeder, poster: Tenant, subscription: dict[str, object], duration: float) -> None:
        self.seeder, self.poster, self.subscription, self.duration = seeder, poster, subscription, duration
        self.best: dict[str, float] = {p: 1500.0 for p in PATHS}
        self.events = 0

    def needed(self, path: str) -> int:
        """Requests to prepare: half again the best rate seen, over the block, plus a margin."""
        return int(self.best[path] * self.duration * 1.5) + 300

    def lines(self, path: str) -> list[str]:
        """The prepared request lines for one block of `path`."""
        n = self.needed(path)
        if path == "commit":
            with self.seeder.app.app_context():
                self.seeder.ensure_uncommitted(self.poster, n)
                db.session.remove()
            ids, self.poster.uncommitted = self.poster.uncommitted[:n], self.poster.uncommitted[n:]
            return ["\t" + json.dumps({"je_ids": [i]}) for i in ids]
        if path == "propose":
            with self.seeder.app.app_context():
                self.seeder.ensure_unproposed(self.poster, n)
                db.session.remove()
            ids, self.poster.unproposed = self.poster.unproposed[:n], self.poster.unproposed[n:]
            return ["\t" + json.dumps({"txn_ids": [i]}) for i in ids]
        out = []
        for _ in range(n):
            self.events += 1
            if path == "webhook_stored":
                obj: dict[str, object] = {"id": "cus_bench", "object": "customer"}
                etype = "customer.created"
            else:
                obj, etype = self.subscription, "customer.subscription.updated"
            body = json.dumps({"id": f"evt_bench_{self.events}_{time.time_ns()}", "object": "event", "type": etype,
                               "created": int(time.time()), "livemode": False, "data": {"object": obj}})
            out.append(f"{sign(body)}\t{body}")
        return out

    def used(self, path: str, block: Block) -> None:
        """Learn the rate; entries and transactions a block did not reach are lost (never reused)."""
        self.best[path] = max(self.best[path], block.rps)


def webhook_subscription(app: Flask, seeder: Seeder, emulator_url: str) -> dict[str, object]:
    """A real subscription in the emulator for its own tenant, as a webhook payload carries it."""
    with app.app_context():
        catalog = bootstrap.bootstrap()
        t = seeder.signup("firm")
        sc = stripe.StripeClient(KEY, base_addresses={"api": emulator_url})
        customer = sc.v1.customers.create({"email": "bench@example.com", "payment_method": "pm_card_visa",
                                           "invoice_settings": {"default_payment_method": "pm_card_visa"},
                                           "metadata": {"tenant_id": t.tenant_id}})
        sub = sc.v1.subscriptions.create({"customer": customer.id, "items": [{"price": catalog["pro"]["price_id"]}],
                                          "metadata": {"tenant_id": t.tenant_id}})
        ent = db.session.get(Entitlement, t.tenant_id)
        ent.stripe_customer_id = customer.id
        db.session.commit()
        db.session.remove()
        payload: dict[str, object] = json.loads(str(sub))
        return payload


def until_applied(app: Flask, block: Block, duration: float) -> Block:
    """The applied-webhook block as events applied per second: a delivery may be answered `queued` (another
    delivery of the tenant is reading Stripe, and that read applies it), so the block's time runs until no
    event is left unprocessed. A failed event makes the block invalid."""
    waited = time.perf_counter()
    with app.app_context():
        while True:
            pending, failed = db.session.execute(select(
                func.count(), func.coalesce(func.sum(case((BillingEvent.outcome == "failed", 1), else_=0)), 0))
                .where(BillingEvent.processed.is_(False))).one()
            db.session.rollback()
            if pending == failed or time.perf_counter() - waited > 60:
                break
            time.sleep(0.01)
        db.session.remove()
    drain = time.perf_counter() - waited
    answered = block.ok / block.rps if block.rps else max(1, round(duration))  # wrk's own time for the 200s
    return Block(block.ok / (answered + drain), block.ok, block.other + int(pending), block.wrapped)


def cap_check(app: Flask, seeder: Seeder, url: str, clients: int) -> tuple[int, int, int]:
    """A starter tenant, 400 proposed entries, `clients` connections committing one each: (200s, posted, counter).

    Not timed, so Python threads send the requests: each of the 400 entries is committed by exactly
    one request, and every answer is waited for, so the 200s counted are every grant there was.
    """
    with app.app_context():
        t = seeder.signup("starter")
        seeder.ensure_uncommitted(t, STARTER.tx_cap + 100)
        db.session.remove()
    pending = list(t.uncommitted)
    lock = threading.Lock()
    granted = [0]

    def client() -> None:
        while True:
            with lock:
                if not pending:
                    return
                je_id = pending.pop()
            req = urllib.request.Request(url, data=json.dumps({"je_ids": [je_id]}).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {t.token}",
                                                  "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as resp:
                    ok = resp.status == 200
            except urllib.error.HTTPError as exc:
                ok = False
                assert exc.code in (402, 409), f"unexpected {exc.code}: {exc.read()[:300]!r}"
            if ok:
                with lock:
                    granted[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        posted = db.session.scalar(select(func.count()).select_from(JournalEntry).where(
            JournalEntry.tenant_id == t.tenant_id, JournalEntry.status == "posted")) or 0
        counter = db.session.scalar(select(func.sum(UsageMonthly.tx_posted)).where(
            UsageMonthly.tenant_id == t.tenant_id)) or 0
        db.session.remove()
    return granted[0], int(posted), int(counter)


def measure(backend: str, url: str, emulator_url: str, workdir: Path, duration: float, rounds: int,
            servers: list[str], paths: tuple[str, ...] = PATHS, cap: bool = True) -> list[ConfigResult]:
    """Both servers on one database: seed, then alternate floor and product blocks; then the cap check."""
    app = create_app(TestConfig(database_url=url, STRIPE_SECRET_KEY=KEY, STRIPE_API_BASE=emulator_url,
                                STRIPE_WEBHOOK_SECRET=SECRET, STRIPE_PRODUCTS_FILE=None, LOG_LEVEL="WARNING"))
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.remove()
    floor_app.prepare(url)
    seeder = Seeder(app)
    with app.app_context():
        poster = seeder.signup("firm", cap=10**9)  # far above any block: the gate counts, never refuses
        db.session.remove()
    work = Workload(seeder, poster, webhook_subscription(app, seeder, emulator_url), duration)
    env = {"DATABASE_URL": url, "FLOOR_DATABASE_URL": url, "SECRET_KEY": "bench", "STRIPE_SECRET_KEY": KEY,
           "STRIPE_API_BASE": emulator_url, "STRIPE_WEBHOOK_SECRET": SECRET, "SCHEDULER_ENABLED": "0",
           "LOG_LEVEL": "INFO", "BENCH_LOG_FILE": str(workdir / "product.log"), "STRIPE_PRODUCTS_FILE": ""}
    results = []
    for server in servers:
        result = ConfigResult(backend, server)
        print(f"  {backend} {server}", file=sys.stderr)
        with gunicorn("product_wsgi:create_product_app()", free_port(), server, env, workdir / "product.err") as product, \
                gunicorn("floor_app:create_floor_app()", free_port(), server, env, workdir / "floor.err") as floor:
            floor_lines = ["\t{}"] * (THREADS * 4)
            urls = {"commit": "/api/post/commit", "propose": "/api/post/propose",
                    "webhook_stored": "/api/billing/webhook", "webhook_applied": "/api/billing/webhook"}
            for path in paths:  # warm-up: every worker has served every path before the clock runs
                run_wrk(product + urls[path], work.lines(path), workdir, 1, token=poster.token)
            run_wrk(floor + "/floor", floor_lines, workdir, 1)
            for _ in range(rounds):
                before = run_wrk(floor + "/floor", floor_lines, workdir, duration).rps
                result.floor.append(before)
                for path in paths:
                    lines = work.lines(path)
                    block = run_wrk(product + urls[path], lines, workdir, duration, token=poster.token)
                    if path == "webhook_applied":
                        block = until_applied(app, block, duration)
                    work.used(path, block)
                    after = run_wrk(floor + "/floor", floor_lines, workdir, duration).rps
                    result.floor.append(after)
                    result.product[path].append(block)
                    if block.valid:
                        result.ratios[path].append(block.rps / ((before + after) / 2))
                    else:
                        print(f"    invalid {path} block: {block}", file=sys.stderr)
                    before = after
            for clients in CAP_CLIENTS if cap else ():
                result.caps[clients] = cap_check(app, seeder, product + "/api/post/commit", clients)
        results.append(result)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return results


def cell(values: list[float]) -> str:
    """Median (min–max) of a path's ratios, or why there is none."""
    if not values:
        return "no valid block"
    return f"**{statistics.median(values):.3f}** ({min(values):.3f}–{max(values):.3f})"


def report(results: list[ConfigResult], duration: float, rounds: int, seconds: float, load: str) -> str:
    """The markdown section for bench/results.md."""
    columns = [f"{r.backend} {SERVER_NAMES[r.server]}" for r in results]
    lines = [
        START, "## Hot paths over HTTP (`python bench/http_bench.py`)", "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()} ({os.cpu_count()} cores), "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
        + (f", PostgreSQL {os.environ['BENCH_PG_VERSION']}" if "BENCH_PG_VERSION" in os.environ else "")
        + f"; load average at the start {load}; the whole run took {seconds:.0f} s.",
        f"gunicorn (`sync`: 2 workers; `gthread`: 2 workers × 4 threads), `wrk -t{THREADS} -c{CONNECTIONS}`, "
        f"{duration:g} s blocks, {rounds} rounds. Each product block is divided by the mean of the floor blocks "
        "run just before and after it (floor: a bare Flask endpoint doing one conditional `UPDATE … RETURNING` on "
        "a hot row of the same database, on SQLite with the app's WAL / `synchronous=NORMAL` settings); median of "
        "the rounds (min–max). Every request is fresh work: an entry never committed, a transaction never proposed, "
        "an event never seen; the firm tenant's cap is raised so the gate counts every commit but never refuses. "
        "The `customer.subscription.updated` events all belong to one tenant and re-read its subscription from the "
        "Stripe emulator (in the bench's process, on the same cores); a delivery answered `queued` is applied by "
        "another delivery's read, so that block counts events applied per second: its time runs until no event is "
        "left unprocessed.", "",
        "| path | " + " | ".join(columns) + " |", "|---|" + "---|" * len(results)]
    measured = [p for p in PATHS if results[0].product[p]]
    for path in measured:
        lines.append(f"| {PATH_NAMES[path]} | " + " | ".join(cell(r.ratios[path]) for r in results) + " |")
    lines += ["", "Requests per second (median of the rounds):", "",
              "| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(results)]
    lines.append("| floor | " + " | ".join(f"{statistics.median(r.floor):,.0f}" for r in results) + " |")
    for path in measured:
        lines.append(f"| {PATH_NAMES[path]} | " + " | ".join(
            f"{statistics.median([b.rps for b in r.product[path]]):,.0f}" for r in results) + " |")
    if results[0].caps:
        lines += cap_table(results, columns)
    lines += ["", "Targets (issue 15): commit ≥ 0.35 of the floor, propose ≥ 0.25, webhook stored ≥ 0.5, webhook "
              "applied ≥ 0.3, on both databases; 0 grants over the cap.", END]
    return "\n".join(lines) + "\n"


def cap_table(results: list[ConfigResult], columns: list[str]) -> list[str]:
    """The cap check's lines: what each backend and server granted, posted and counted."""
    lines = ["", "Cap check: a starter tenant (cap 300 a month) with 400 proposed entries, each committed by its own "
             "request from 32 or 50 concurrent HTTP clients (threads, every answer awaited; past the cap: 402):", "",
             "| clients | " + " | ".join(columns) + " |", "|---|" + "---|" * len(results)]
    for clients in CAP_CLIENTS:
        cells = []
        for r in results:
            ok, posted, counter = r.caps.get(clients, (0, 0, 0))
            verdict = "exact" if ok == posted == counter == STARTER.tx_cap else "**WRONG**"
            cells.append(f"{ok} granted, {posted} posted, counter {counter}: {verdict}")
        lines.append(f"| {clients} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    """Measure every available backend and server, then rewrite the results section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3, help="seconds per wrk block (the issue used 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per backend and server (median reported)")
    parser.add_argument("--servers", default="sync,gthread", help="gunicorn worker classes to measure")
    parser.add_argument("--backends", default="postgresql,sqlite", help="databases to measure")
    parser.add_argument("--paths", default=",".join(PATHS), help="paths to measure (a subset implies --no-write)")
    parser.add_argument("--no-cap", action="store_true", help="skip the cap check (implies --no-write)")
    parser.add_argument("--no-write", action="store_true", help="print the tables, leave bench/results.md alone")
    parser.add_argument("--keep", metavar="DIR", help="keep the SQLite file, request files and server logs in DIR")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the in-process emulator's access log
    if not Path(WRK).exists():
        sys.exit("wrk is not installed (apt-get install wrk)")
    began, load = time.perf_counter(), "/".join(f"{x:.1f}" for x in os.getloadavg())
    servers = args.servers.split(",")
    paths = tuple(p for p in PATHS if p in args.paths.split(","))
    partial = paths != PATHS or args.no_cap  # results.md keeps only whole runs
    results: list[ConfigResult] = []
    with tempfile.TemporaryDirectory() as scratch, EmulatorServer(port=0) as emulator:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        backends = []
        if "postgresql" in args.backends:
            pg = postgres_url(PG_SCHEMA)
            if pg:
                backends.append(("PostgreSQL", pg))
        if "sqlite" in args.backends:
            backends.append(("SQLite", f"sqlite:///{tmp}/bench.db"))
        try:
            for name, url in backends:
                print(f"measuring {name} ...", file=sys.stderr)
                results += measure(name, url, emulator.url, Path(tmp), args.duration, args.rounds, servers, paths,
                                   not args.no_cap)
        finally:
            if any(name == "PostgreSQL" for name, _ in backends):
                drop_pg_schema(PG_SCHEMA)
    section = report(results, args.duration, args.rounds, time.perf_counter() - began, load)
    if not (args.no_write or partial):
        write_section(START, END, section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
