"""Domain signals: what the gate and the webhook decided, for observers (the Prometheus counters in ops/metrics.py).

The deciding modules only announce; they import nothing of operations, so no import circle forms.
"""
from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

# kwargs: action ("propose" | "commit"), code ("ALLOWED" or the PaywallError's code)
gate_decided = _signals.signal("gate-decided")
# kwargs: event_type (the verified event's type, or "unverified"), outcome (applied, ignored, stale,
# duplicate, failed, in_progress, rejected)
webhook_delivered = _signals.signal("webhook-delivered")
