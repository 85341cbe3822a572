"""The gateway's HTTP client: the environment's proxy settings, read once when the gateway is built.

A fake Stripe on 127.0.0.1 records each request line: a call sent through a proxy names the whole URL
(`GET http://host/v1/...`), a direct call only the path. No test leaves 127.0.0.1: the `.invalid`
API host is never resolved, because its calls go to the proxy.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp.billing.stripe_gateway import StripeGateway
from webapp.errors import BillingUnavailable

UNRESOLVABLE_API = "http://stripe.invalid"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


class FakeStripe:
    """Answers every GET with a subscription and keeps the request lines it saw."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        seen = self.targets

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                seen.append(self.path)
                body = json.dumps({"id": "sub_1", "object": "subscription"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    server = FakeStripe()
    yield server
    server.stop()


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable from the machine running the tests, in either case."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def gateway_for(api_base: str) -> StripeGateway:
    return StripeGateway("sk_test_proxy", api_base, None, timeout=5, max_network_retries=0)


def test_calls_go_through_the_proxy_the_environment_names(fake_stripe, clean_proxy_env):
    clean_proxy_env.setenv("HTTP_PROXY", fake_stripe.url)
    gw = gateway_for(UNRESOLVABLE_API)
    assert gw.retrieve_subscription("sub_1") == {"id": "sub_1", "object": "subscription"}
    assert fake_stripe.targets[-1].startswith(f"{UNRESOLVABLE_API}/v1/subscriptions/sub_1?expand")


def test_no_proxy_covering_the_api_host_sends_calls_directly(fake_stripe, clean_proxy_env):
    clean_proxy_env.setenv("HTTP_PROXY", fake_stripe.url)
    clean_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    gw = gateway_for(fake_stripe.url)
    assert gw.retrieve_subscription("sub_1") is not None
    assert fake_stripe.targets[-1].startswith("/v1/subscriptions/sub_1?expand")


def test_without_a_proxy_setting_calls_go_directly(fake_stripe, clean_proxy_env):
    gw = gateway_for(fake_stripe.url)
    assert gw.list_subscriptions("cus_1") == []
    assert fake_stripe.targets[-1].startswith("/v1/subscriptions?customer=cus_1")


def test_the_proxy_is_read_when_the_gateway_is_built_not_on_every_call(fake_stripe, clean_proxy_env):
    clean_proxy_env.setenv("HTTP_PROXY", fake_stripe.url)
    gw = gateway_for(UNRESOLVABLE_API)
    gw.retrieve_subscription("sub_1")
    clean_proxy_env.delenv("HTTP_PROXY")
    assert gw.retrieve_subscription("sub_1") is not None  # a re-read would go direct to the unresolvable host
    assert len(fake_stripe.targets) == 2
    with pytest.raises(BillingUnavailable):  # a gateway built now has no proxy
        gateway_for(UNRESOLVABLE_API).retrieve_subscription("sub_1")


def test_each_thread_gets_its_own_client_and_keeps_it(clean_proxy_env):
    gw = gateway_for(UNRESOLVABLE_API)
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(gw.client))
    worker.start()
    worker.join()
    assert gw.client is gw.client
    assert seen[0] is not gw.client
