"""Move time: advance a test clock (synchronously), and sweep wall-clock objects periodically."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..events import emit
from ..render import render
from ..timeutil import real_now
from .lifecycle import run_due

if TYPE_CHECKING:
    from ..core import Emulator

log = logging.getLogger(__name__)


def advance_clock(emu: "Emulator", clock: dict[str, Any], target: int) -> dict[str, Any]:
    """Run everything due on the clock up to `target`, in order; the clock ends `ready` at target."""
    def step(when: int) -> None:
        clock["frozen_time"] = when
        emu.store.put(clock)

    with emu.lock:
        clock["status"] = "advancing"
        emu.store.put(clock)
        emit(emu, "test_helpers.test_clock.advancing", render(emu, clock),
             created=clock["frozen_time"])
        steps = run_due(emu, clock["id"], target, step)
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
