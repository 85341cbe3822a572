"""Shared start-up for the operator scripts: the app from the environment (and .env), like the flask CLI."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def make_app():  # type: ignore[no-untyped-def]
    """Load .env, then build the app."""
    from dotenv import load_dotenv

    from webapp import create_app

    load_dotenv(ROOT / ".env")
    return create_app()
