"""The type of an emulated account, as rendering and webhook delivery see it.

core.Emulator builds the webhook dispatcher, which renders events; render.py and webhooks.py
name this Protocol rather than importing core, so their imports point one way (core -> webhooks
-> render) with no circle back to core.
"""
from __future__ import annotations

import threading
from typing import Protocol

from .config import EmulatorConfig
from .store import Store


class Account(Protocol):
    """One emulated Stripe account: its settings, its objects and the lock around them
    (core.Emulator is the implementation)."""

    config: EmulatorConfig
    store: Store
    lock: threading.RLock
