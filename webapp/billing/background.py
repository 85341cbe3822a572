"""A few background threads per process, for work a request hands over and need not wait for.

Used by the webhook (webapp/billing/sync_lease.py): a delivery that read Stripe for its tenant while
more events of the tenant queued up hands the reading on to here, answers Stripe, and a thread reads
again for them. The pool starts on first use in each process (so after gunicorn forks); at most
WORKERS jobs run at once, so one tenant's long burst does not hold up another's. A job may ask to run
later (`submit_later`): one timer thread per process keeps those in a heap and hands each to the pool
when it is due, so a job that waits holds no pool thread. A job runs in an app
context; a failure is logged with its traceback. What a job was doing is recoverable if the process
dies: the lease expires and the scheduler's sweep, or the next delivery, takes it over.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

WORKERS = 4

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid = 0
_pending: set[Future[None]] = set()
# Jobs waiting for their time: (due on time.monotonic(), tie-breaker, placeholder, app, job, args). The
# placeholder future stands in _pending until the job is handed to the pool, so wait_idle waits for it.
_later: list[tuple[float, int, Future[None], Flask, Callable[..., Any], tuple[Any, ...]]] = []
_later_ready = threading.Condition(_lock)
_later_thread: threading.Thread | None = None
_order = itertools.count()


def _run(app: Flask, job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        with app.app_context():
            job(*args)
    except Exception:
        log.exception("background.job_failed", extra={"job": getattr(job, "__name__", repr(job))})


def _done(future: Future[None]) -> None:
    with _lock:
        _pending.discard(future)


def _this_process() -> ThreadPoolExecutor:
    """The pool (and timer thread) of this process, started on first use; called holding _lock."""
    global _pool, _pool_pid, _later_thread
    if _pool is None or _pool_pid != os.getpid():  # first use, or a forked child of the process that made it
        _pool, _pool_pid = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="aibk-background"), os.getpid()
        _pending.clear()
        _later.clear()
        _later_thread = None
    if _later_thread is None:
        _later_thread = threading.Thread(target=_hand_over_when_due, name="aibk-background-timer", daemon=True)
        _later_thread.start()
    return _pool


def submit(app: Flask, job: Callable[..., Any], *args: Any) -> None:
    """Run `job(*args)` on this process's background pool, in an app context of `app`."""
    with _lock:
        future = _this_process().submit(_run, app, job, args)
        _pending.add(future)
    future.add_done_callback(_done)


def submit_later(delay: float, app: Flask, job: Callable[..., Any], *args: Any) -> None:
    """Run `job(*args)` as `submit` does, once `delay` seconds have passed (at once if none)."""
    if delay <= 0:
        submit(app, job, *args)
        return
    placeholder: Future[None] = Future()
    with _lock:
        _this_process()
        heapq.heappush(_later, (time.monotonic() + delay, next(_order), placeholder, app, job, args))
        _pending.add(placeholder)
        _later_ready.notify()
    placeholder.add_done_callback(_done)


def _hand_over_when_due() -> None:
    """The timer thread: hand each waiting job to the pool when its time comes."""
    while True:
        with _lock:
            while not _later or _later[0][0] > time.monotonic():
                _later_ready.wait(_later[0][0] - time.monotonic() if _later else None)
            _, _, placeholder, app, job, args = heapq.heappop(_later)
        try:
            submit(app, job, *args)
        finally:
            placeholder.set_result(None)  # the job itself now stands in _pending


def wait_idle(timeout: float = 30.0) -> bool:
    """Wait until every job handed over so far (and any they handed over) has finished; False on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        with _lock:
            pending = list(_pending)
        if not pending:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        wait(pending, timeout=left)
