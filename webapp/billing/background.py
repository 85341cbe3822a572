"""A per-process background thread for work a request hands over and need not wait for.

Started on first use (so after gunicorn forks), one per process, daemon: the work it is given is
recoverable if the process dies (a lease that expires, events that stay queued for the sweep). A job
runs inside an app context; a failure is logged with its traceback and the thread goes on.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)

_jobs: queue.Queue[tuple[Flask, Callable[..., Any], tuple[Any, ...]]] = queue.Queue()
_thread: threading.Thread | None = None
_start_lock = threading.Lock()


def _run() -> None:
    while True:
        app, job, args = _jobs.get()
        try:
            with app.app_context():
                job(*args)
        except Exception:
            log.exception("background.job_failed", extra={"job": getattr(job, "__name__", repr(job))})
        finally:
            _jobs.task_done()


def submit(app: Flask, job: Callable[..., Any], *args: Any) -> None:
    """Run `job(*args)` in this process's background thread, in an app context of `app`."""
    global _thread
    with _start_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="aibk-background", daemon=True)
            _thread.start()
    _jobs.put((app, job, args))


def wait_idle() -> None:
    """Block until every job handed over so far has finished (tests, and an orderly shutdown)."""
    _jobs.join()
