"""Command line: serve (default), `trigger EVENT_TYPE`, `resend EVT_ID`, `advance CLOCK_ID`.

The client commands find the running emulator in this order: --api-base / --api-key, the
environment (STRIPE_API_BASE, STRIPE_SECRET_KEY), the local stack file `make run` writes
(instance/local_stack.json beside this package), then http://127.0.0.1:12111.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Sequence

from .config import FINAL_FAILURE_ACTIONS, parse_delays

DEFAULT_API_BASE = "http://127.0.0.1:12111"
DEFAULT_KEY = "sk_test_emulator"
LOCAL_STACK_FILE = Path(__file__).resolve().parent.parent / "instance" / "local_stack.json"
SECRET_ENV = "STRIPE_EMULATOR_WEBHOOK_SECRET"
CLIENT_COMMANDS = ("trigger", "resend", "advance")
_LOG_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def local_stack() -> dict[str, str]:
    """The settings of the stack `make run` is serving from this checkout ({} when none)."""
    try:
        data = json.loads(LOCAL_STACK_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def client_defaults() -> tuple[str, str]:
    """(api base, api key) for the client commands: environment, then the local stack, then 12111."""
    stack = local_stack()
    base = os.environ.get("STRIPE_API_BASE") or stack.get("STRIPE_API_BASE") or DEFAULT_API_BASE
    key = os.environ.get("STRIPE_SECRET_KEY") or stack.get("STRIPE_SECRET_KEY") or DEFAULT_KEY
    return base, key


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
                        help="whsec_... secret signing deliveries to --webhook-url (visible in ps: "
                        f"prefer --webhook-secret-file or ${SECRET_ENV})")
    parser.add_argument("--webhook-secret-file", default=None,
                        help="read the whsec_... secret from this file")
    parser.add_argument("--instance-id", default=None,
                        help="answered on /_emulator/health, so whoever started it can recognise it")
    parser.add_argument("--access-log", default=None,
                        help="write the HTTP access log to this file instead of stderr")
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
    """Flags of the `trigger`, `resend` and `advance` subcommands."""
    parser = argparse.ArgumentParser(prog=f"python -m stripe_emulator {command}")
    if command == "trigger":
        parser.add_argument("event", help="event type, e.g. invoice.payment_failed")
        parser.add_argument("--subscription", help="act on this subscription (sub_...)")
        parser.add_argument("--customer", help="act for this customer (cus_...)")
    elif command == "resend":
        parser.add_argument("event", help="event id (evt_...)")
        parser.add_argument("--webhook-endpoint", help="only this endpoint (we_... or cli)")
    else:
        parser.add_argument("clock", help="test clock id (clock_...)")
        parser.add_argument("--days", type=float, required=True,
                            help="move the clock this many days forward (renewals, retries and "
                            "trial ends on the way happen, with their webhooks)")
    base, key = client_defaults()
    parser.add_argument("--api-base", default=base,
                        help=f"running emulator (default: $STRIPE_API_BASE, else the stack `make run` "
                        f"serves, else {DEFAULT_API_BASE}; now {base})")
    parser.add_argument("--api-key", default=key,
                        help="sk_test_... key (default: $STRIPE_SECRET_KEY, else the local stack's)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m stripe_emulator`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CLIENT_COMMANDS:
        return _client(args[0], client_parser(args[0]).parse_args(args[1:]))
    return _serve(serve_parser().parse_args(args))


class _LineFormatter(logging.Formatter):
    """One line per record: time, level, logger, message, then the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items()
                          if k not in _LOG_RECORD_FIELDS and not k.startswith("_") and v is not None)
        line = super().format(record)
        return f"{line} {extras}" if extras else line


def _configure_logging(level: str, access_log: str | None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LineFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    if access_log:  # werkzeug's one line per request goes to its own file, not the console
        Path(access_log).parent.mkdir(parents=True, exist_ok=True)
        access = logging.getLogger("werkzeug")
        file_handler = logging.FileHandler(access_log, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(file_handler)
        access.setLevel(logging.INFO)
        access.propagate = False


def _webhook_secret(ns: argparse.Namespace) -> str | None:
    if ns.webhook_secret:
        return str(ns.webhook_secret)
    if ns.webhook_secret_file:
        return Path(ns.webhook_secret_file).read_text().strip() or None
    return os.environ.get(SECRET_ENV) or None


def _serve(ns: argparse.Namespace) -> int:
    from .server import EmulatorServer
    try:
        secret = _webhook_secret(ns)
    except OSError as exc:
        print(f"error: cannot read --webhook-secret-file: {exc}", file=sys.stderr)
        return 2
    if ns.webhook_url and not secret:
        print(f"--webhook-url needs a whsec_... secret: ${SECRET_ENV}, --webhook-secret-file or "
              "--webhook-secret", file=sys.stderr)
        return 2
    try:
        server = EmulatorServer(port=ns.port, host=ns.host, db_path=ns.db,
                                webhook_url=ns.webhook_url, webhook_secret=secret,
                                webhook_retry_schedule=parse_delays(ns.webhook_retry_schedule),
                                payment_retry_days=parse_delays(ns.retry_schedule),
                                on_final_failure=ns.on_final_failure, public_url=ns.public_url,
                                webhook_timeout=ns.webhook_timeout, instance_id=ns.instance_id)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(ns.log_level, ns.access_log)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot listen on {ns.host}:{ns.port}: {exc.strerror or exc}", file=sys.stderr)
        return 3
    except SystemExit:  # werkzeug has printed why (the port is in use); 3 lets a starter pick another port
        return 3
    print(f"Stripe emulator listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class ClientError(Exception):
    """A client command failed; the message is what to print."""


def _call(ns: argparse.Namespace, method: str, path: str, fields: dict[str, Any]) -> dict[str, Any]:
    base = ns.api_base.rstrip("/")
    body = urllib.parse.urlencode({k: v for k, v in fields.items() if v is not None and v != ""})
    url = base + path
    if method == "GET" and body:
        url, body = f"{url}?{body}", ""
    request = urllib.request.Request(url, data=body.encode() if method == "POST" else None,
                                     method=method, headers={
                                         "Authorization": f"Bearer {ns.api_key}",
                                         "Content-Type": "application/x-www-form-urlencoded"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as resp:
            return dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read() or b"{}").get("error", {})
        except ValueError:
            error = {}
        raise ClientError(f"error ({exc.code}): {error.get('message', exc.reason)}") from None
    except OSError as exc:
        raise ClientError(f"error: cannot reach the emulator at {base}: {exc} "
                          "(is `make run` serving? else pass --api-base)") from None


def _client(command: str, ns: argparse.Namespace) -> int:
    try:
        for line in COMMANDS[command](ns):
            print(line)
    except ClientError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def _trigger(ns: argparse.Namespace) -> list[str]:
    answer = _call(ns, "POST", "/_emulator/trigger",
                   {"event": ns.event, "subscription": ns.subscription, "customer": ns.customer})
    return [f"{e['id']}  {e['type']}  {e['data']['object'].get('id', '')}" for e in answer["data"]]


def _resend(ns: argparse.Namespace) -> list[str]:
    answer = _call(ns, "POST", f"/_emulator/events/{urllib.parse.quote(ns.event)}/resend",
                   {"webhook_endpoint": ns.webhook_endpoint})
    return [f"{answer['id']}  {answer['type']}  resent"]


def _advance(ns: argparse.Namespace) -> list[str]:
    if ns.days <= 0:
        raise ClientError("error: --days must be more than 0")
    path = f"/v1/test_helpers/test_clocks/{urllib.parse.quote(ns.clock)}"
    clock = _call(ns, "GET", path, {})
    target = int(clock["frozen_time"] + ns.days * 86400)
    clock = _call(ns, "POST", f"{path}/advance", {"frozen_time": target})
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clock["frozen_time"]))
    return [f"{clock['id']}  advanced to {when}  ({clock['status']})",
            f"events and their deliveries: {ns.api_base.rstrip('/')}/events"]


COMMANDS = {"trigger": _trigger, "resend": _resend, "advance": _advance}
