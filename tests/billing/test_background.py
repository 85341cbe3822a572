"""The per-process background pool: jobs handed over now or later, and waiting until they are done."""
from __future__ import annotations

import threading
import time

from flask import Flask, current_app

from webapp.billing import background


def test_a_job_submitted_later_runs_after_its_delay_in_an_app_context_in_due_order_and_wait_idle_waits_for_it():
    app = Flask("background-test")
    ran: list[tuple[str, float, str]] = []
    lock = threading.Lock()

    def job(name: str) -> None:
        with lock:
            ran.append((name, time.monotonic(), current_app.name))

    start = time.monotonic()
    background.submit_later(0.3, app, job, "late")
    background.submit_later(0.15, app, job, "sooner")
    background.submit_later(0, app, job, "now")
    assert background.wait_idle(timeout=10)
    by_name = {name: (at - start, app_name) for name, at, app_name in ran}
    assert set(by_name) == {"now", "sooner", "late"}
    assert by_name["sooner"][0] >= 0.15 and by_name["late"][0] >= 0.3
    assert by_name["sooner"][0] < by_name["late"][0]
    assert {app_name for _, app_name in by_name.values()} == {"background-test"}


def test_wait_idle_gives_up_at_its_timeout_while_a_job_is_still_waiting_for_its_time():
    app = Flask("background-test")
    done = threading.Event()
    background.submit_later(0.5, app, done.set)
    assert background.wait_idle(timeout=0.05) is False
    assert background.wait_idle(timeout=10) is True and done.is_set()


def test_a_failing_job_is_logged_and_does_not_stop_the_pool(caplog):
    app = Flask("background-test")
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    background.submit_later(0.01, app, boom)
    background.submit(app, done.set)
    assert background.wait_idle(timeout=10) and done.is_set()
    assert any(r.getMessage() == "background.job_failed" for r in caplog.records)
