"""`python -m stripe_emulator`: --db keeps state across a restart; trigger and resend."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import stripe

from emulator_testkit import card, make_price, post_form

ROOT = Path(__file__).resolve().parents[2]


def env() -> dict[str, str]:
    """Environment for child processes: the repo on PYTHONPATH, no proxies."""
    child = dict(os.environ, PYTHONPATH=str(ROOT))
    for key in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        child.pop(key, None)
    return child


class Process:
    """`python -m stripe_emulator ...` running in the background."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "stripe_emulator", "--port", "0",
                                      *args], cwd=ROOT, env=env(), stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        assert "listening on" in line, line
        self.url = line.rsplit(" ", 1)[1].strip()

    def stop(self) -> None:
        """SIGTERM, then wait for a clean exit."""
        self.proc.terminate()
        assert self.proc.wait(timeout=10) == 0


@pytest.fixture
def run() -> Iterator:
    started: list[Process] = []

    def start(*args: str) -> Process:
        started.append(Process(*args))
        return started[-1]
    yield start
    for proc in started:
        if proc.proc.poll() is None:
            proc.proc.kill()


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run a CLI subcommand and capture its output."""
    return subprocess.run([sys.executable, "-m", "stripe_emulator", *args], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=30)


def stripe_client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_x", base_addresses={"api": url}, max_network_retries=0)


def test_state_survives_a_restart_with_db(run, tmp_path):
    db = str(tmp_path / "stripe.sqlite3")
    first = run("--db", db)
    client = stripe_client(first.url)
    price = make_price(client, "Kept", lookup_key="kept")
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer_email": "kept@example.com",
        "success_url": "http://app.test/ok", "line_items": [{"price": price.id, "quantity": 1}]})
    assert post_form(session.url, card("4242424242424242")).status == 303
    sub = client.v1.subscriptions.list().data[0]
    made = client.v1.customers.create(params={"email": "idem@example.com"},
                                      options={"idempotency_key": "restart-key"})
    first.stop()

    second = run("--db", db)
    client = stripe_client(second.url)
    assert client.v1.prices.list(params={"lookup_keys": ["kept"]}).data[0].id == price.id
    again = client.v1.subscriptions.retrieve(sub.id)
    assert again.status == "active" and again.items.data[0].price.id == price.id
    assert client.v1.checkout.sessions.retrieve(session.id).status == "complete"
    assert client.v1.customers.create(params={"email": "idem@example.com"},
                                      options={"idempotency_key": "restart-key"}).id == made.id
    assert len(client.v1.events.list(params={"type": "invoice.paid"}).data) == 1
    second.stop()


def test_without_db_nothing_is_kept(run):
    first = run()
    make_price(stripe_client(first.url))
    first.stop()
    second = run()
    assert stripe_client(second.url).v1.prices.list().data == []
    second.stop()


def test_trigger_invoice_payment_failed_really_fails_a_charge(client, server, receiver):
    price = make_price(client)
    session = client.v1.checkout.sessions.create(params={
        "mode": "subscription", "customer_email": "t@example.com",
        "success_url": "http://app.test/ok", "line_items": [{"price": price.id, "quantity": 1}]})
    post_form(session.url, card("4242424242424242"))
    sub = client.v1.subscriptions.list().data[0]
    result = cli("trigger", "invoice.payment_failed", "--subscription", sub.id,
                 "--api-base", server.url)
    assert result.returncode == 0, result.stderr
    assert "invoice.payment_failed" in result.stdout
    sub = client.v1.subscriptions.retrieve(sub.id, params={"expand": ["latest_invoice"]})
    assert sub.status == "past_due"
    assert (sub.latest_invoice.status, sub.latest_invoice.attempt_count) == ("open", 1)
    assert sub.latest_invoice.next_payment_attempt is not None
    server.wait_for_webhooks(5)
    assert "invoice.payment_failed" in receiver.types()


def test_trigger_checkout_session_completed_creates_everything_it_needs(client, server):
    result = cli("trigger", "checkout.session.completed", "--api-base", server.url)
    assert result.returncode == 0, result.stderr
    session = client.v1.checkout.sessions.list().data[0]
    assert session.status == "complete"
    assert client.v1.subscriptions.retrieve(session.subscription).status == "active"
    assert client.v1.products.list().data[0].name == "Emulator plan"


def test_resend_delivers_an_event_again(client, server, receiver):
    client.v1.customers.create()
    server.wait_for_webhooks(5)
    event_id = receiver.events()[0]["id"]
    result = cli("resend", event_id, "--api-base", server.url)
    assert result.returncode == 0, result.stderr
    server.wait_for_webhooks(5)
    assert [e["id"] for e in receiver.events()] == [event_id, event_id]


def test_unknown_trigger_fails_with_the_supported_list(server):
    result = cli("trigger", "charge.refunded", "--api-base", server.url)
    assert result.returncode == 1
    assert "invoice.payment_failed" in result.stderr


def test_serve_refuses_webhook_url_without_secret():
    result = cli("--port", "0", "--webhook-url", "http://127.0.0.1:9/h")
    assert result.returncode == 2 and "--webhook-secret" in result.stderr


def test_serve_accepts_every_documented_flag(run, receiver):
    proc = run("--host", "127.0.0.1", "--webhook-url", receiver.url, "--webhook-secret",
               receiver.secret, "--on-final-failure", "canceled", "--retry-schedule", "1d,2d",
               "--webhook-retry-schedule", "0.05,0.1", "--webhook-timeout", "2",
               "--log-level", "WARNING")
    client = stripe_client(proc.url)
    client.v1.customers.create()
    deadline = time.monotonic() + 5
    while not receiver.deliveries and time.monotonic() < deadline:
        time.sleep(0.02)
    assert receiver.types() == ["customer.created"]
    proc.stop()


def test_a_pending_webhook_retry_survives_a_restart_with_db(tmp_path, receiver):
    from stripe_emulator import EmulatorServer
    db = str(tmp_path / "retry.sqlite3")
    receiver.statuses = [500]
    options = dict(port=0, db_path=db, webhook_url=receiver.url, webhook_secret=receiver.secret,
                   webhook_retry_schedule=(0.3,))
    with EmulatorServer(**options) as first:
        stripe_client(first.url).v1.customers.create()
        deadline = time.monotonic() + 5
        while not receiver.deliveries and time.monotonic() < deadline:
            time.sleep(0.01)
    assert len(receiver.deliveries) == 1
    with EmulatorServer(**options) as second:
        assert second.wait_for_webhooks(5)
        event = stripe_client(second.url).v1.events.list().data[0]
        assert event.pending_webhooks == 0
    assert [d.event(receiver.secret)["id"] for d in receiver.deliveries] == [event.id, event.id]


@pytest.mark.parametrize("path,fields,param", [
    ("/_emulator/trigger", "event=customer.created&subscription[x]=1", "subscription"),
    ("/_emulator/trigger", "event[]=customer.created", "event"),
    ("/_emulator/trigger", "event[a]=customer.created", "event"),
    ("/_emulator/trigger", "event=invoice.paid&customer[0]=cus_x", "customer"),
    ("/_emulator/trigger", "event=customer.created&colour=red", "colour"),
    ("/_emulator/trigger", "subscription=sub_x", "event"),
    ("/_emulator/events/{event}/resend", "webhook_endpoint[x]=1", "webhook_endpoint"),
    ("/_emulator/events/{event}/resend", "webhook_endpoint[]=we_1&webhook_endpoint[]=we_2",
     "webhook_endpoint"),
    ("/_emulator/events/{event}/resend", "event=evt_x", "event"),
])
def test_control_api_refuses_malformed_fields_with_a_400_in_stripe_shape(client, server, path,
                                                                          fields, param):
    import json

    from emulator_testkit import http
    client.v1.customers.create()
    event = client.v1.events.list().data[0]
    answer = http("POST", server.url + path.format(event=event.id), body=fields.encode(),
                  headers={"Authorization": "Bearer sk_test_x",
                           "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 400, answer.body
    error = json.loads(answer.body)["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert [e.id for e in client.v1.events.list().data] == [event.id]  # nothing was triggered
