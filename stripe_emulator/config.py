"""Emulator settings: one dataclass, filled from CLI flags or by EmulatorServer's caller."""
from __future__ import annotations

from dataclasses import dataclass

FINAL_FAILURE_ACTIONS = ("unpaid", "canceled")


@dataclass
class EmulatorConfig:
    """How the emulator behaves; every field has the documented CLI flag of the same name."""

    db_path: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_retry_schedule: tuple[float, ...] = (5.0, 30.0, 120.0)  # seconds between attempts
    webhook_timeout: float = 10.0  # seconds to wait for a receiver's answer
    payment_retry_days: tuple[float, ...] = (3.0, 5.0, 7.0)  # days after the previous attempt
    on_final_failure: str = "unpaid"
    public_url: str | None = None  # base for hosted-page URLs; default: the URL the API was called on
    tick_interval: float = 1.0  # seconds between real-time sweeps (trials, renewals, expiry)
    # Who started this emulator (e.g. one `make run`), answered on /_emulator/health so a starter can
    # tell its own emulator from another one on the same port.
    instance_id: str | None = None

    def __post_init__(self) -> None:
        if self.on_final_failure not in FINAL_FAILURE_ACTIONS:
            raise ValueError(f"on_final_failure must be one of {FINAL_FAILURE_ACTIONS}")
        if len(self.webhook_retry_schedule) > 20 or any(d < 0 for d in self.webhook_retry_schedule):
            raise ValueError("webhook_retry_schedule: at most 20 non-negative delays")
        if len(self.payment_retry_days) > 10 or any(d <= 0 for d in self.payment_retry_days):
            raise ValueError("payment_retry_days: at most 10 positive delays")


def parse_delays(text: str, unit: str = "s") -> tuple[float, ...]:
    """Parse "5,30,120" (seconds) or "3d,5d,7d" (days when unit="d"; a trailing d is optional)."""
    values: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.endswith(("d", "s")):
            part = part[:-1]
        values.append(float(part))
    return tuple(values)
