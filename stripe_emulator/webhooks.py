"""Deliver events to webhook endpoints in background threads, signed as Stripe signs them.

Each (event, target) pair is a delivery record kept in the store (kind "emu.delivery") with its
attempts, so the events page can show them and a restart with --db resumes pending retries. The
records are the only truth about delivery: an event's `pending_webhooks` and whether it was
delivered are computed from them when asked.

Every target (webhook endpoint, or --webhook-url) has its own queue and worker thread, so a slow
or dead receiver only delays itself. A target's queue runs in order of due time, so new events go
out in the order they were created, and a failed delivery waits for its retry without holding
up the events behind it (Stripe does not guarantee order either).
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
from .render import render, renderer

if TYPE_CHECKING:
    from .account import Account

log = logging.getLogger(__name__)
CLI_TARGET = "cli"  # endpoint id used for the --webhook-url target
MAX_BODY = 2000
STOP_TIMEOUT = 5.0  # seconds stop() waits, in all, for the workers


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header value for `payload`: t=...,v1=HMAC-SHA256(secret, "t.payload")."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.{payload}".encode("utf-8"), hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def deliveries_of(emu: "Account", event: dict[str, Any]) -> list[dict[str, Any]]:
    """An event's delivery records, oldest first."""
    ids = event.get("_deliveries")
    if ids is None:  # an event stored before events listed their deliveries
        return emu.store.all("emu.delivery", lambda d: d["event"] == event["id"],
                             oldest_first=True)
    found = (emu.store.get(i, "emu.delivery") for i in ids)
    return [d for d in found if d is not None]


def delivery_state(emu: "Account", event: dict[str, Any]) -> tuple[int, str]:
    """(pending_webhooks, state) of an event, from its delivery records, per target.

    A target counts as delivered once any delivery of the event to it got a 2xx; else as
    pending while one is still being tried; else as failed. The state is "delivered" when every
    target is delivered (or there is none), "pending" while any is pending, else "failed".
    """
    by_target: dict[str, set[str]] = {}
    for delivery in deliveries_of(emu, event):
        by_target.setdefault(delivery["endpoint"], set()).add(delivery["status"])
    pending = failed = 0
    for statuses in by_target.values():
        if "succeeded" in statuses:
            continue
        if "pending" in statuses:
            pending += 1
        else:
            failed += 1
    return pending, "pending" if pending else "failed" if failed else "delivered"


@renderer("event")
def _render_event(emu: "Account", stored: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    out["pending_webhooks"] = delivery_state(emu, stored)[0]
    return out


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a 3xx is a failed delivery
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


class WebhookDispatcher:
    """One queue of due deliveries per target, each with a worker thread that posts them."""

    def __init__(self, emu: "Account") -> None:
        self.emu = emu
        self._cond = threading.Condition()
        self._queues: dict[str, list[tuple[float, int, str]]] = {}  # target -> heap
        self._threads: dict[str, threading.Thread] = {}
        self._seq = 0
        self._inflight = 0
        self._running = False
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
        """Record deliveries for `event`; they are queued once the transaction commits."""
        targets = self.targets(event["type"])
        if only_endpoint:
            targets = [t for t in targets if t[0] == only_endpoint]
        with self.emu.lock:
            event.setdefault("_deliveries", [])
            for endpoint_id, url in targets:
                delivery = {"id": new_id("whdel"), "object": "emu.delivery", "event": event["id"],
                            "endpoint": endpoint_id, "url": url, "status": "pending",
                            "attempts": [], "next_attempt_at": time.time(),
                            "created": int(time.time())}
                self.emu.store.put(delivery)
                event["_deliveries"].append(delivery["id"])
                self.emu.store.after_commit(
                    lambda d=delivery["id"], t=endpoint_id: self._push(0.0, d, t))
            self.emu.store.put(event)
        return len(targets)

    def _push(self, delay: float, delivery_id: str, target: str) -> None:
        with self._cond:
            self._seq += 1
            heapq.heappush(self._queues.setdefault(target, []),
                           (time.monotonic() + delay, self._seq, delivery_id))
            if self._running and target not in self._threads:
                self._start_worker(target)
            self._cond.notify_all()

    def _start_worker(self, target: str) -> None:
        thread = threading.Thread(target=self._run, args=(target,), daemon=True,
                                  name=f"stripe-emulator-webhooks-{target}")
        self._threads[target] = thread
        thread.start()

    def start(self) -> None:
        """Start the workers and requeue deliveries left pending by a previous run."""
        with self._cond:
            if self._running:
                return
            self._running, self._stopping = True, False
        with self.emu.lock:
            queued = {item[2] for queue in self._queues.values() for item in queue}
            for delivery in self.emu.store.all("emu.delivery", lambda d: d["status"] == "pending",
                                               oldest_first=True):
                if delivery["id"] not in queued:
                    delay = max(0.0, delivery["next_attempt_at"] - time.time())
                    self._push(delay, delivery["id"], delivery["endpoint"])
        with self._cond:
            for target in self._queues:
                if target not in self._threads:
                    self._start_worker(target)

    def stop(self) -> None:
        """Stop the workers (pending deliveries stay recorded)."""
        with self._cond:
            self._stopping = True
            self._running = False
            self._cond.notify_all()
            threads, self._threads = list(self._threads.values()), {}
        deadline = time.monotonic() + STOP_TIMEOUT
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until nothing is in flight and no delivery is due within `timeout`; True if so."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                due_soon = any(queue and queue[0][0] <= deadline for queue in self._queues.values())
                if self._inflight == 0 and not due_soon:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))

    def _run(self, target: str) -> None:
        while True:
            with self._cond:
                queue = self._queues[target]
                while not self._stopping and (not queue or queue[0][0] > time.monotonic()):
                    self._cond.wait(queue[0][0] - time.monotonic() if queue else None)
                if self._stopping:
                    return
                _, _, delivery_id = heapq.heappop(queue)
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
            payload = json.dumps(render(self.emu, event), indent=2)
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
        self._push(delay, delivery_id, delivery["endpoint"])

    def _finish(self, delivery: dict[str, Any], status: str) -> None:
        delivery["status"] = status
        delivery["next_attempt_at"] = None
        self.emu.store.put(delivery)

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
