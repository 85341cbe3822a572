"""A local Stripe that the unmodified stripe library talks to over HTTP.

    from stripe_emulator import EmulatorServer
    with EmulatorServer(port=0) as server:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": server.url})
"""
from __future__ import annotations

from typing import Any

__all__ = ["EmulatorServer", "EmulatorConfig", "Emulator", "create_app"]


def __getattr__(name: str) -> Any:
    """Import lazily so `import stripe_emulator` does no work."""
    if name == "EmulatorServer":
        from .server import EmulatorServer
        return EmulatorServer
    if name == "EmulatorConfig":
        from .config import EmulatorConfig
        return EmulatorConfig
    if name == "Emulator":
        from .core import Emulator
        return Emulator
    if name == "create_app":
        from .app import create_app
        return create_app
    raise AttributeError(name)
