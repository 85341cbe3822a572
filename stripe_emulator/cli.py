"""Command line: serve (default), `trigger EVENT_TYPE`, `resend EVT_ID`."""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Sequence

from .config import FINAL_FAILURE_ACTIONS, parse_delays

DEFAULT_API_BASE = "http://127.0.0.1:12111"
DEFAULT_KEY = "sk_test_emulator"


def serve_parser() -> argparse.ArgumentParser:
    """Flags of `python -m stripe_emulator` (serve)."""
    parser = argparse.ArgumentParser(prog="python -m stripe_emulator",
                                     description="Run the local Stripe emulator. Subcommands: "
                                     "trigger EVENT_TYPE, resend EVT_ID (see --help of each).")
    parser.add_argument("--port", type=int, default=12111, help="port (default 12111; 0 = any)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--db", default=None, help="SQLite file keeping state across restarts")
    parser.add_argument("--webhook-url", default=None, help="also deliver every event here")
    parser.add_argument("--webhook-secret", default=None,
                        help="whsec_... secret signing deliveries to --webhook-url")
    parser.add_argument("--on-final-failure", choices=FINAL_FAILURE_ACTIONS, default="unpaid",
                        help="subscription status after the last failed retry (default unpaid)")
    parser.add_argument("--retry-schedule", default="3d,5d,7d",
                        help="payment retries, days after the previous attempt (default 3d,5d,7d)")
    parser.add_argument("--webhook-retry-schedule", default="5,30,120",
                        help="webhook retry delays in seconds (default 5,30,120)")
    parser.add_argument("--webhook-timeout", type=float, default=10.0,
                        help="seconds to wait for a webhook receiver (default 10)")
    parser.add_argument("--public-url", default=None,
                        help="base URL for hosted pages (default: the URL the API was called on)")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return parser


def client_parser(command: str) -> argparse.ArgumentParser:
    """Flags of the `trigger` and `resend` subcommands."""
    parser = argparse.ArgumentParser(prog=f"python -m stripe_emulator {command}")
    if command == "trigger":
        parser.add_argument("event", help="event type, e.g. invoice.payment_failed")
        parser.add_argument("--subscription", help="act on this subscription (sub_...)")
        parser.add_argument("--customer", help="act for this customer (cus_...)")
    else:
        parser.add_argument("event", help="event id (evt_...)")
        parser.add_argument("--webhook-endpoint", help="only this endpoint (we_... or cli)")
    parser.add_argument("--api-base", default=DEFAULT_API_BASE,
                        help=f"running emulator (default {DEFAULT_API_BASE})")
    parser.add_argument("--api-key", default=DEFAULT_KEY, help="sk_test_... key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m stripe_emulator`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("trigger", "resend"):
        return _client(args[0], client_parser(args[0]).parse_args(args[1:]))
    return _serve(serve_parser().parse_args(args))


def _serve(ns: argparse.Namespace) -> int:
    from .server import EmulatorServer
    logging.basicConfig(level=ns.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if ns.webhook_url and not ns.webhook_secret:
        print("--webhook-url needs --webhook-secret whsec_...", file=sys.stderr)
        return 2
    try:
        server = EmulatorServer(port=ns.port, host=ns.host, db_path=ns.db,
                                webhook_url=ns.webhook_url, webhook_secret=ns.webhook_secret,
                                webhook_retry_schedule=parse_delays(ns.webhook_retry_schedule),
                                payment_retry_days=parse_delays(ns.retry_schedule),
                                on_final_failure=ns.on_final_failure, public_url=ns.public_url,
                                webhook_timeout=ns.webhook_timeout)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    server.start()
    print(f"Stripe emulator listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _client(command: str, ns: argparse.Namespace) -> int:
    base = ns.api_base.rstrip("/")
    if command == "trigger":
        fields = {"event": ns.event, "subscription": ns.subscription, "customer": ns.customer}
        path = "/_emulator/trigger"
    else:
        fields = {"webhook_endpoint": ns.webhook_endpoint}
        path = f"/_emulator/events/{urllib.parse.quote(ns.event)}/resend"
    body = urllib.parse.urlencode({k: v for k, v in fields.items() if v}).encode()
    request = urllib.request.Request(base + path, data=body, method="POST", headers={
        "Authorization": f"Bearer {ns.api_key}",
        "Content-Type": "application/x-www-form-urlencoded"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as resp:
            answer = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        error = json.loads(exc.read() or b"{}").get("error", {})
        print(f"error ({exc.code}): {error.get('message', exc.reason)}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot reach the emulator at {base}: {exc}", file=sys.stderr)
        return 1
    if command == "trigger":
        for event in answer["data"]:
            print(f"{event['id']}  {event['type']}  {event['data']['object'].get('id', '')}")
    else:
        print(f"{answer['id']}  {answer['type']}  resent")
    return 0
