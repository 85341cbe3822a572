"""A smaller request a paywall modal can offer instead of the refused one (a page attaches it to the error)."""
from __future__ import annotations

from dataclasses import dataclass

from webapp.errors import PaywallError


@dataclass(frozen=True)
class PartialRetry:
    """A smaller request the modal can send at once instead, e.g. "Propose the first 38" of a selection:
    a form posting `ids` as `field` to `url`. The page that raised the paywall knows it; the API never
    gets one."""

    label: str
    url: str
    field: str
    ids: tuple[str, ...]
    note: str = ""


def offer_partial(err: PaywallError, retry: PartialRetry) -> None:
    """Attach a smaller request the modal offers (not part of the error's JSON body)."""
    err.partial_retry = retry  # type: ignore[attr-defined]


def partial_of(err: PaywallError) -> PartialRetry | None:
    """The smaller request a page attached to this paywall, if any."""
    retry = getattr(err, "partial_retry", None)
    return retry if isinstance(retry, PartialRetry) else None
