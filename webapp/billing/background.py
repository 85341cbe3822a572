"""A few background threads per process, for work a request hands over and need not wait for.

Used by the webhook (webapp/billing/sync_lease.py): a delivery that read Stripe for its tenant while
more events of the tenant queued up hands the reading on to here, answers Stripe, and a thread reads
again for them. The pool starts on first use in each process (so after gunicorn forks); at most
WORKERS jobs run at once, so one tenant's long burst does not hold up another's. A job runs in an app
context; a failure is logged with its traceback. What a job was doing is recoverable if the process
dies: the lease expires and the scheduler's sweep, or the next delivery, takes it over.
"""
from __future__ import annotations

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


def _run(app: Flask, job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        with app.app_context():
            job(*args)
    except Exception:
        log.exception("background.job_failed", extra={"job": getattr(job, "__name__", repr(job))})


def _done(future: Future[None]) -> None:
    with _lock:
        _pending.discard(future)


def submit(app: Flask, job: Callable[..., Any], *args: Any) -> None:
    """Run `job(*args)` on this process's background pool, in an app context of `app`."""
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():  # first use, or a forked child of the process that made it
            _pool, _pool_pid = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="aibk-background"), os.getpid()
            _pending.clear()
        future = _pool.submit(_run, app, job, args)
        _pending.add(future)
    future.add_done_callback(_done)


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
