"""The product for bench/http_bench.py: the real app with the production Config, its log file moved.

Like wsgi.py (`create_app()` with the environment's settings), except that the log file goes to
BENCH_LOG_FILE instead of the checkout's logs/app.log, and no scheduler starts.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.config import Config  # noqa: E402


def create_product_app() -> Flask:
    """The app as deployed: every setting from the environment, logging to stderr and BENCH_LOG_FILE."""
    config = Config()
    config.LOG_FILE = os.environ["BENCH_LOG_FILE"]
    return create_app(config)
