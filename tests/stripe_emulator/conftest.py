"""Fixtures for the emulator's tests: a running emulator, a stripe client, a webhook receiver."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for path in (str(ROOT), str(HERE)):  # works whatever the rootdir or import mode
    if path not in sys.path:
        sys.path.insert(0, path)

import stripe  # noqa: E402

from emulator_testkit import Receiver  # noqa: E402
from stripe_emulator import EmulatorServer  # noqa: E402

FAST_WEBHOOK_RETRIES = (0.05, 0.1)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 recording every delivery."""
    with Receiver() as rec:
        yield rec


@pytest.fixture
def server(receiver: Receiver) -> Iterator[EmulatorServer]:
    """A fresh in-memory emulator delivering every event to `receiver` (fast retries)."""
    with EmulatorServer(port=0, webhook_url=receiver.url, webhook_secret=receiver.secret,
                        webhook_retry_schedule=FAST_WEBHOOK_RETRIES) as srv:
        yield srv


@pytest.fixture
def client(server: EmulatorServer) -> stripe.StripeClient:
    """The real stripe library pointed at the emulator."""
    return stripe.StripeClient("sk_test_emulator", base_addresses={"api": server.url},
                               max_network_retries=0)
