"""What every /v1 endpoint shares: auth, parameters, idempotency, the lock, JSON answers."""
from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import logging
import time
from typing import Any, Callable

from flask import Response, current_app, g, request

from ..core import Emulator
from ..errors import StripeError, auth_error, idempotency_error
from ..events import REQUEST_CONTEXT
from ..forms import decode_pairs
from ..ids import new_id
from ..schema import validate

log = logging.getLogger(__name__)
IDEMPOTENCY_TTL = 24 * 3600
NO_KEY = ("You did not provide an API key. You need to provide your API key in the "
          "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').")
LIVE_KEY = ("This is a local Stripe emulator: it runs in test mode only and refuses live keys "
            "(sk_live_...). Use a test key such as sk_test_emulator.")


def emulator() -> Emulator:
    """The Emulator this app serves."""
    return current_app.extensions["stripe_emulator"]


def base_url() -> str:
    """Where the hosted pages live: --public-url, else the URL this request came in on."""
    configured = emulator().config.public_url
    return (configured or request.host_url).rstrip("/")


def api_key() -> str:
    """The request's secret key, or a Stripe-shaped 401."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise auth_error(NO_KEY)
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            value = base64.b64decode(value).decode("utf-8").partition(":")[0]
        except ValueError:
            raise auth_error("Invalid Basic authorization header.") from None
    elif scheme.lower() != "bearer":
        raise auth_error(NO_KEY)
    value = value.strip()
    if value.startswith(("sk_live_", "rk_live_")):
        raise auth_error(LIVE_KEY)
    if not value.startswith("sk_test_") or len(value) <= len("sk_test_"):
        shown = value[:8] + "*" * max(0, min(len(value) - 12, 20)) + value[-4:] if value else ""
        raise auth_error(f"Invalid API Key provided: {shown}")
    return value


def raw_params() -> dict[str, Any]:
    """The request's parameters as a nested tree (query string, plus the form body on POST)."""
    if "raw_params" not in g:
        pairs = list(request.args.items(multi=True))
        if request.method == "POST":
            pairs += list(request.form.items(multi=True))
        g.raw_params = decode_pairs(pairs)
    return g.raw_params


def params(schema_name: str) -> dict[str, Any]:
    """The request's parameters, checked against stripe.params.<schema_name>."""
    return validate(schema_name, raw_params())


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer formatted as Stripe formats them."""
    resp = Response(json.dumps(body, indent=2), status=status, mimetype="application/json")
    resp.headers["Request-Id"] = getattr(g, "request_id", None) or new_id("req", 14)
    resp.headers["Stripe-Version"] = request.headers.get("Stripe-Version") or _version()
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _version() -> str:
    from ..events import default_api_version
    return default_api_version()


def endpoint(fn: Callable[..., Any]) -> Callable[..., Response]:
    """Wrap a view: authenticate, serialise under the store lock, honour Idempotency-Key.

    A POST or DELETE runs as one transaction, as on Stripe: when it fails with an error, every
    change it made (objects, the --db file, events and their deliveries) is undone.
    """
    @functools.wraps(fn)
    def wrapper(**kwargs: Any) -> Response:
        emu = emulator()
        emu.last_seen_url = request.host_url
        g.request_id = new_id("req", 14)
        key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
        with emu.lock:
            try:
                api_key()
                raw_params()
                if key:
                    replay = _replay(emu, key)
                    if replay is not None:
                        return replay
            except StripeError as err:
                return json_response(err.body(), err.status)
            token = REQUEST_CONTEXT.set((g.request_id, key, request.headers.get("Stripe-Version")))
            replayable = True
            try:
                with _atomic(emu):
                    body, status = fn(**kwargs), 200
            except StripeError as err:
                body, status, replayable = err.body(), err.status, err.replayable
            finally:
                REQUEST_CONTEXT.reset(token)
            if key and replayable:
                emu.store.kv_set(f"idem:{key}", {
                    "method": request.method, "path": request.path, "fingerprint": _fingerprint(),
                    "status": status, "body": body, "request_id": g.request_id,
                    "at": time.time()})
            headers = {"Idempotency-Key": key} if key else {}
            return json_response(body, status, headers)
    return wrapper


def _atomic(emu: Emulator) -> contextlib.AbstractContextManager[None]:
    """The request's transaction; a GET only reads, so it needs none."""
    if request.method == "GET":
        return contextlib.nullcontext()
    return emu.store.transaction()


def _fingerprint() -> str:
    return hashlib.sha256(json.dumps(raw_params(), sort_keys=True).encode()).hexdigest()


def _replay(emu: Emulator, key: str) -> Response | None:
    saved = emu.store.kv_get(f"idem:{key}")
    if saved is None or time.time() - saved["at"] > IDEMPOTENCY_TTL:
        return None
    if saved["method"] != request.method or saved["path"] != request.path:
        raise idempotency_error(
            "Keys for idempotent requests can only be used for the same endpoint they were first "
            f"used for ('{saved['path']}' vs '{request.path}'). Try using a key other than "
            f"'{key}' if you meant to execute a different request.")
    if saved["fingerprint"] != _fingerprint():
        raise idempotency_error(
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.")
    g.request_id = saved["request_id"]
    log.info("api.idempotent_replay", extra={"path": request.path})
    return json_response(saved["body"], saved["status"],
                         {"Idempotency-Key": key, "Idempotent-Replayed": "true"})
