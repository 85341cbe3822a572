"""Deliver events to webhook endpoints in a background thread, signed as Stripe signs them.

Each (event, target) pair is a delivery record kept in the store (kind "emu.delivery") with its
attempts, so the events page can show them and a restart with --db resumes pending retries.
"""
from __future__ import annotations

import heapq
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from .ids import new_id
from .render import public

if TYPE_CHECKING:
    from .core import Emulator

log = logging.getLogger(__name__)
CLI_TARGET = "cli"  # endpoint id used for the --webhook-url target
MAX_BODY = 2000


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header value for `payload`: t=...,v1=HMAC-SHA256(secret, "t.payload")."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.{payload}".encode("utf-8"), hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a 3xx is a failed delivery
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class WebhookDispatcher:
    """Queue of due deliveries plus the worker thread that posts them."""

    def __init__(self, emu: "Emulator") -> None:
        self.emu = emu
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self._inflight = 0
        self._thread: threading.Thread | None = None
        self._stopping = False

    def targets(self, event_type: str) -> list[tuple[str, str]]:
        """(endpoint id, url) of every enabled endpoint that takes `event_type`, plus --webhook-url."""
        found = [(we["id"], we["url"]) for we in self.emu.store.all("webhook_endpoint")
                 if not we.get("deleted") and we["status"] == "enabled"
                 and ("*" in we["enabled_events"] or event_type in we["enabled_events"])]
        if self.emu.config.webhook_url:
            found.append((CLI_TARGET, self.emu.config.webhook_url))
        return found

    def enqueue(self, event: dict[str, Any], only_endpoint: str | None = None) -> int:
        """Create deliveries for `event` (caller holds the store lock); return how many."""
        targets = self.targets(event["type"])
        if only_endpoint:
            targets = [t for t in targets if t[0] == only_endpoint]
        for endpoint_id, url in targets:
            delivery = {"id": new_id("whdel"), "object": "emu.delivery", "event": event["id"],
                        "endpoint": endpoint_id, "url": url, "status": "pending",
                        "attempts": [], "next_attempt_at": time.time(), "created": int(time.time())}
            self.emu.store.put(delivery)
            self._push(0.0, delivery["id"])
        event["pending_webhooks"] = self.pending_count(event["id"])
        self.emu.store.put(event)
        return len(targets)

    def pending_count(self, event_id: str) -> int:
        """Deliveries of an event still waiting for a 2xx or a retry."""
        return len(self.emu.store.all("emu.delivery", lambda d: d["event"] == event_id
                                      and d["status"] == "pending"))

    def _push(self, delay: float, delivery_id: str) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._heap, (time.monotonic() + delay, self._seq, delivery_id))
            self._cond.notify_all()

    def start(self) -> None:
        """Start the worker and requeue deliveries left pending by a previous run."""
        if self._thread is not None:
            return
        self._stopping = False
        with self.emu.lock:
            for delivery in self.emu.store.all("emu.delivery", lambda d: d["status"] == "pending"):
                delay = max(0.0, delivery["next_attempt_at"] - time.time())
                if not any(item[2] == delivery["id"] for item in self._heap):
                    self._push(delay, delivery["id"])
        self._thread = threading.Thread(target=self._run, name="stripe-emulator-webhooks",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker (pending deliveries stay recorded)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until nothing is in flight and no delivery is due within `timeout`; True if so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                due_soon = self._heap and self._heap[0][0] <= deadline
                if self._inflight == 0 and not due_soon:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap
                                              or self._heap[0][0] > time.monotonic()):
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopping:
                    return
                _, _, delivery_id = heapq.heappop(self._heap)
                self._inflight += 1
            try:
                self._attempt(delivery_id)
            except Exception:  # the worker must survive any one bad delivery
                log.exception("webhook.delivery_crashed", extra={"delivery": delivery_id})
            finally:
                with self._cond:
                    self._inflight -= 1
                    self._cond.notify_all()

    def _prepare(self, delivery_id: str) -> tuple[str, str, str] | None:
        with self.emu.lock:
            delivery = self.emu.store.get(delivery_id, "emu.delivery")
            if delivery is None or delivery["status"] != "pending":
                return None
            event = self.emu.store.get(delivery["event"], "event")
            secret = self._secret(delivery["endpoint"])
            if event is None or secret is None:
                self._finish(delivery, "failed")
                return None
            payload = json.dumps(public(event), indent=2)
            return delivery["url"], payload, secret

    def _secret(self, endpoint_id: str) -> str | None:
        if endpoint_id == CLI_TARGET:
            return self.emu.config.webhook_secret or ""
        endpoint = self.emu.store.get(endpoint_id, "webhook_endpoint")
        if endpoint is None or endpoint.get("deleted") or endpoint["status"] != "enabled":
            return None
        return endpoint["_secret"]

    def _attempt(self, delivery_id: str) -> None:
        prepared = self._prepare(delivery_id)
        if prepared is None:
            return
        url, payload, secret = prepared
        started = time.time()
        status, body, error = self._post(url, payload, secret)
        with self.emu.lock:
            delivery = self.emu.store.get(delivery_id, "emu.delivery")
            if delivery is None:
                return
            delivery["attempts"].append({"at": int(started), "status": status, "body": body,
                                         "error": error,
                                         "duration_ms": int((time.time() - started) * 1000)})
            log.info("webhook.attempt", extra={"event_id": delivery["event"], "url": url,
                                               "status": status, "error": error})
            if status is not None and 200 <= status < 300:
                self._finish(delivery, "succeeded")
                return
            schedule = self.emu.config.webhook_retry_schedule
            tried = len(delivery["attempts"])
            if tried > len(schedule):
                self._finish(delivery, "failed")
                return
            delay = float(schedule[tried - 1])
            delivery["next_attempt_at"] = time.time() + delay
            self.emu.store.put(delivery)
        self._push(delay, delivery_id)

    def _finish(self, delivery: dict[str, Any], status: str) -> None:
        delivery["status"] = status
        delivery["next_attempt_at"] = None
        self.emu.store.put(delivery)
        event = self.emu.store.get(delivery["event"], "event")
        if event is not None:
            event["pending_webhooks"] = self.pending_count(event["id"])
            self.emu.store.put(event)

    def _post(self, url: str, payload: str, secret: str) -> tuple[int | None, str, str | None]:
        request = urllib.request.Request(url, data=payload.encode("utf-8"), method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, secret)})
        try:
            with _opener().open(request, timeout=self.emu.config.webhook_timeout) as resp:
                return resp.status, resp.read(MAX_BODY).decode("utf-8", "replace"), None
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(MAX_BODY).decode("utf-8", "replace"), None
        except (OSError, ValueError) as exc:
            return None, "", f"{type(exc).__name__}: {exc}"
