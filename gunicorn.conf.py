"""gunicorn's settings for this app (gunicorn reads ./gunicorn.conf.py by default; render.yaml names it too).

Prometheus: every worker is its own process, so /metrics must add up all of them. This file runs in
gunicorn's master before any worker imports the app, and points PROMETHEUS_MULTIPROC_DIR at an
empty directory (a fresh temporary one unless it is set): prometheus-client then keeps each worker's
counters in files there, and a scrape, whichever worker serves it, sums every worker's files.
Counters of a worker that exits stay in the sum (a counter never goes down).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _fresh_metrics_dir() -> str:
    """The multiprocess directory, emptied: stale files from an earlier run would be added to this one's."""
    path = Path(os.environ.get(_ENV) or tempfile.mkdtemp(prefix="aibk-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return str(path)


os.environ[_ENV] = _fresh_metrics_dir()


def child_exit(server: object, worker: object) -> None:
    """A worker ended: drop its live-gauge files (its counters stay in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
