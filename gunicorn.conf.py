"""gunicorn's settings for this app (gunicorn reads ./gunicorn.conf.py by default; render.yaml names it too).

Prometheus: every worker is its own process, so /metrics must add up all of them. This file runs in
gunicorn's master before any worker imports the app, and points PROMETHEUS_MULTIPROC_DIR at an
empty directory (a fresh temporary one unless it is set): prometheus-client then keeps each worker's
counters in files there, and a scrape, whichever worker serves it, sums every worker's files.
Counters of a worker that exits stay in the sum (a counter never goes down).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_ENV = "PROMETHEUS_MULTIPROC_DIR"


_OWNED = "AIBK_METRICS_DIR_IS_TEMPORARY"  # set when the directory is ours: removed when gunicorn stops


def _fresh_metrics_dir() -> str:
    """The multiprocess directory, emptied: stale files from an earlier run would be added to this one's."""
    if not os.environ.get(_ENV):
        os.environ[_ENV], os.environ[_OWNED] = tempfile.mkdtemp(prefix="aibk-metrics-"), "1"
    path = Path(os.environ[_ENV])
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return str(path)


os.environ[_ENV] = _fresh_metrics_dir()


def on_exit(server: object) -> None:
    """gunicorn stops: remove the temporary metrics directory it made (one given by the environment stays)."""
    if os.environ.get(_OWNED):
        shutil.rmtree(os.environ[_ENV], ignore_errors=True)


def child_exit(server: object, worker: object) -> None:
    """A worker ended: drop its live-gauge files (its counters stay in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
