"""/metrics: closed by METRICS_TOKEN, counts what the app decides, and adds up across gunicorn workers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.billing.helpers import post_event
from tests.conftest import running_app
from tests.factories import import_txns, set_plan, set_usage
from tests.ops.helpers import rollover_done, store_events
from webapp.ops import alerts

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_overrides():
    return {"METRICS_TOKEN": TOKEN, "STRIPE_WEBHOOK_SECRET": "whsec_metrics_test"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape by (name, labels)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, frozenset(labels.items())), 0.0)


def test_metrics_answer_404_when_no_token_is_configured(app, client):
    app.config["METRICS_TOKEN"] = None
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 404


def test_metrics_answer_401_without_the_right_bearer_token(app, client):
    for header in (None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer ", f"Bearer {TOKEN}x"):
        resp = client.get("/metrics", headers={"Authorization": header} if header else {})
        assert resp.status_code == 401 and b"aibk_" not in resp.data, header


def test_metrics_count_gate_decisions_requests_and_webhook_outcomes(app, client, api_client, clock):
    import_txns(api_client, 2)
    assert api_client.post("/api/post/propose", json={"txn_ids": ["txn_1"]}).status_code == 200
    set_usage(api_client.tenant_id, day_analyzed=50)
    assert api_client.post("/api/post/propose", json={"txn_ids": ["txn_2"]}).status_code == 429
    assert api_client.post("/api/post/commit", json={"je_ids": ["je_nope"]}).status_code == 402
    assert post_event(client, {"id": "evt_1", "type": "invoice.paid"}, secret="whsec_wrong").status_code == 400
    resp = client.get("/metrics", headers=AUTH)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == CONTENT_TYPE_LATEST
    scrape = samples(resp.get_data(as_text=True))
    assert value(scrape, "aibk_gate_decisions_total", action="propose", code="ALLOWED") == 1
    assert value(scrape, "aibk_gate_decisions_total", action="propose", code="FREE_CAP_EXCEEDED") == 1
    assert value(scrape, "aibk_gate_decisions_total", action="commit", code="SUBSCRIPTION_REQUIRED") == 1
    assert value(scrape, "aibk_http_requests_total", method="POST", route="/api/post/propose", status="429") == 1
    assert value(scrape, "aibk_http_request_duration_seconds_count", method="POST", route="/api/post/propose") == 2
    assert value(scrape, "aibk_webhook_deliveries_total", type="unverified", outcome="rejected") == 1
    assert not any(dict(labels).get("route") == "/metrics" for _, labels in scrape)   # a scrape is not counted


def test_a_request_refused_before_its_view_is_timed_like_any_other(app, client):
    resp = client.post("/login", data={"email": "x@example.com", "password": "whatever-1"})  # no CSRF token
    assert resp.status_code == 400
    scrape = samples(client.get("/metrics", headers=AUTH).get_data(as_text=True))
    assert value(scrape, "aibk_http_requests_total", method="POST", route="/login", status="400") == 1
    assert value(scrape, "aibk_http_request_duration_seconds_count", method="POST", route="/login") == 1


def test_unknown_paths_share_one_route_label(app, client):
    for path in ("/nope/1", "/nope/2", "/x"):
        client.get(path)
    scrape = samples(client.get("/metrics", headers=AUTH).get_data(as_text=True))
    assert value(scrape, "aibk_http_requests_total", method="GET", route="unmatched", status="404") == 3


def test_metrics_gauges_are_read_from_the_database_at_scrape_time(app, client, api_client, clock):
    now = datetime(2025, 3, 10, 12, tzinfo=UTC)
    clock.set(now)
    set_plan(api_client.tenant_id, "pro", "trialing")
    rollover_done("2025-03", datetime(2025, 3, 1, 0, 0, 5, tzinfo=UTC))
    store_events(20, now - timedelta(hours=1), "failed")
    alerts.evaluate()
    scrape = samples(client.get("/metrics", headers=AUTH).get_data(as_text=True))
    assert value(scrape, "aibk_subscriptions", plan="pro", status="trialing") == 1
    assert value(scrape, "aibk_rollover_last_success_timestamp_seconds") == datetime(
        2025, 3, 1, 0, 0, 5, tzinfo=UTC).timestamp()
    assert value(scrape, "aibk_alert_firing", alert="webhook_failure_rate") == 1
    assert value(scrape, "aibk_alert_firing", alert="monthly_rollover") == 0
    assert value(scrape, "aibk_webhook_events_unprocessed") == 20


@pytest.fixture
def gunicorn_two_workers(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn with 2 sync workers on a socket this test bound itself (a free port, no race), on SQLite."""
    url = f"sqlite:///{tmp_path / 'gunicorn.db'}"
    with running_app(url, {}):
        pass  # builds the schema
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    prom = tmp_path / "prometheus"
    env = {**os.environ, "DATABASE_URL": url, "METRICS_TOKEN": TOKEN, "SCHEDULER_ENABLED": "0",
           "SECRET_KEY": "gunicorn-test", "PROMETHEUS_MULTIPROC_DIR": str(prom), "STRIPE_WEBHOOK_SECRET": "whsec_x"}
    log = (tmp_path / "gunicorn.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "2",
                             "--bind", f"fd://{listener.fileno()}", "--no-control-socket", "wsgi:app"],
                            cwd=ROOT, env=env, pass_fds=[listener.fileno()], stdout=log, stderr=log)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=60)
        while True:  # the socket accepts at once; wait until a worker has booted and answers
            try:
                if requests.get(f"{base}/metrics", headers=AUTH, timeout=10).status_code == 200:
                    break
            except requests.RequestException:  # refused or reset while booting, or slow on a busy machine
                pass
            assert proc.poll() is None and datetime.now(UTC) < deadline, (tmp_path / "gunicorn.log").read_text()
        yield base, prom
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        listener.close()
        log.close()


def test_counters_add_up_across_two_gunicorn_workers(gunicorn_two_workers):
    base, prom = gunicorn_two_workers

    def hit(path: str) -> int:
        return requests.get(base + path, headers={"Connection": "close"}, timeout=30).status_code

    def reject(_: int) -> int:
        return requests.post(base + "/api/billing/webhook", data=b"{}", timeout=30,
                             headers={"Stripe-Signature": "t=1,v1=bad", "Connection": "close"}).status_code

    sent = 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(10):  # until both workers have served some (each writes its own files, by pid)
            assert set(pool.map(hit, ["/healthz"] * 40)) == {200}
            sent += 40
            if len({f.stem.rsplit("_", 1)[1] for f in prom.glob("counter_*.db")}) == 2:
                break
        assert set(pool.map(reject, range(12))) == {400}
    assert len({f.stem.rsplit("_", 1)[1] for f in prom.glob("counter_*.db")}) == 2, "one worker served everything"
    for _ in range(4):  # whichever worker answers the scrape, it reports both workers' sum
        scrape = samples(requests.get(f"{base}/metrics", headers=AUTH, timeout=30).text)
        assert value(scrape, "aibk_http_requests_total", method="GET", route="/healthz", status="200") == sent
        assert value(scrape, "aibk_webhook_deliveries_total", type="unverified", outcome="rejected") == 12
        assert value(scrape, "aibk_http_requests_total", method="POST", route="/api/billing/webhook",
                     status="400") == 12
