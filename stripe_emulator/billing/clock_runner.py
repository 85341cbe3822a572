"""Move time: advance a test clock (synchronously), and sweep wall-clock objects periodically."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..errors import StripeError
from ..events import emit
from ..objects.subscriptions import items_of
from ..render import render
from ..timeutil import add_interval, real_now
from . import lifecycle
from .lifecycle import run_due

if TYPE_CHECKING:
    from ..core import Emulator

log = logging.getLogger(__name__)
ENDED = ("canceled", "incomplete_expired")


def advance_limit(emu: "Emulator", clock: dict[str, Any]) -> int:
    """The furthest the clock may move in one advance, as Stripe allows: two intervals of its
    shortest live subscription, or two years when it has none."""
    now = int(clock["frozen_time"])
    limits = [add_interval(now, interval, 2 * count)
              for interval, count in _intervals(emu, clock["id"])]
    return min(limits, default=add_interval(now, "year", 2))


def _intervals(emu: "Emulator", clock_id: str) -> list[tuple[str, int]]:
    found = []
    for sub in emu.store.all("subscription", lambda s: s.get("test_clock") == clock_id
                             and not s.get("deleted") and s["status"] not in ENDED):
        for item in items_of(emu, sub):
            recurring = (emu.store.get(item["price"], "price") or {}).get("recurring") or {}
            if recurring:
                found.append((recurring["interval"], recurring["interval_count"]))
    return found


def advance_clock(emu: "Emulator", clock: dict[str, Any], target: int) -> dict[str, Any]:
    """Run everything due on the clock up to `target`, in order; the clock ends `ready` at target.

    More than MAX_STEPS actions in one advance raises a 400 (the caller's transaction undoes the
    advance), so an advance always ends.
    """
    def step(when: int) -> None:
        clock["frozen_time"] = max(clock["frozen_time"], when)
        emu.store.put(clock)

    with emu.lock:
        clock["status"] = "advancing"
        emu.store.put(clock)
        emit(emu, "test_helpers.test_clock.advancing", render(emu, clock),
             created=clock["frozen_time"])
        steps = run_due(emu, clock["id"], target, step)
        if steps >= lifecycle.MAX_STEPS and any(
                action[0] <= target for action in lifecycle.due_actions(emu, clock["id"])):
            raise StripeError(f"This advance would run more than {lifecycle.MAX_STEPS} billing "
                              "actions; advance the test clock in smaller steps.",
                              param="frozen_time", replayable=False)
        clock["frozen_time"] = target
        clock["status"] = "ready"
        emu.store.put(clock)
        emit(emu, "test_helpers.test_clock.ready", render(emu, clock), created=target)
    log.info("clock.advanced", extra={"clock": clock["id"], "to": target, "steps": steps})
    return clock


class RealTimeTicker:
    """A daemon thread running wall-clock actions (renewals, retries, session expiry) when due."""

    def __init__(self, emu: "Emulator") -> None:
        self.emu = emu
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sweeping every config.tick_interval seconds."""
        self._thread = threading.Thread(target=self._run, name="stripe-emulator-ticker",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sweeping."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.emu.config.tick_interval):
            try:
                run_due(self.emu, None, real_now())
            except Exception:  # keep sweeping; the failure is logged with its traceback
                log.exception("ticker.failed")
