"""/v1/test_helpers/test_clocks: create, retrieve, list, advance, delete."""
from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..billing.clock_runner import advance_clock, advance_limit
from ..errors import invalid, missing_param
from ..events import emit
from ..ids import new_id
from ..listing import list_object
from ..render import render
from ..timeutil import DAY, real_now
from .base import emulator, endpoint, params

bp = Blueprint("test_clocks", __name__)
PATH = "/v1/test_helpers/test_clocks"


@bp.post(PATH)
@endpoint
def create_clock() -> dict[str, Any]:
    """Create a test clock frozen at frozen_time."""
    p = params("test_helpers.TestClockCreateParams")
    emu = emulator()
    now = real_now()
    clock = {"id": new_id("clock"), "object": "test_helpers.test_clock", "created": now,
             "deletes_after": now + 30 * DAY, "frozen_time": p["frozen_time"], "livemode": False,
             "name": p.get("name"), "status": "ready", "status_details": {}}
    emu.store.put(clock)
    emit(emu, "test_helpers.test_clock.created", render(emu, clock), created=clock["frozen_time"])
    return render(emu, clock, p.get("expand") or [])


@bp.get(f"{PATH}/<clock_id>")
@endpoint
def retrieve_clock(clock_id: str) -> dict[str, Any]:
    """Retrieve a test clock."""
    p = params("test_helpers.TestClockRetrieveParams")
    emu = emulator()
    return render(emu, emu.fetch("test_helpers.test_clock", clock_id, allow_deleted=True),
                  p.get("expand") or [])


@bp.get(PATH)
@endpoint
def list_clocks() -> dict[str, Any]:
    """List test clocks."""
    p = params("test_helpers.TestClockListParams")
    emu = emulator()
    objs = emu.store.all("test_helpers.test_clock", lambda o: not o.get("deleted"))
    return list_object(emu, objs, p, PATH)


@bp.post(f"{PATH}/<clock_id>/advance")
@endpoint
def advance(clock_id: str) -> dict[str, Any]:
    """Move the clock to frozen_time, running every trial, renewal and retry due on the way."""
    p = params("test_helpers.TestClockAdvanceParams")
    emu = emulator()
    clock = emu.fetch("test_helpers.test_clock", clock_id)
    if "frozen_time" not in p:
        raise missing_param("frozen_time")
    if p["frozen_time"] <= clock["frozen_time"]:
        raise invalid("The frozen_time must be after the test clock's current frozen_time "
                      f"({clock['frozen_time']}).", "frozen_time")
    limit = advance_limit(emu, clock)
    if p["frozen_time"] > limit:
        raise invalid("Cannot advance the test clock more than two intervals of its shortest "
                      "subscription (two years when it has none) in one step: frozen_time can be "
                      f"at most {limit}.", "frozen_time")
    advance_clock(emu, clock, p["frozen_time"])
    return render(emu, clock, p.get("expand") or [])


@bp.delete(f"{PATH}/<clock_id>")
@endpoint
def delete_clock(clock_id: str) -> dict[str, Any]:
    """Delete a test clock with its customers and their subscriptions."""
    params("test_helpers.TestClockDeleteParams")
    emu = emulator()
    clock = emu.fetch("test_helpers.test_clock", clock_id)
    for kind in ("subscription", "customer"):
        for obj in emu.store.all(kind, lambda o: o.get("test_clock") == clock_id):
            obj["deleted"] = True
            emu.store.put(obj)
    clock["deleted"] = True
    emu.store.put(clock)
    emit(emu, "test_helpers.test_clock.deleted", {"id": clock_id, "object": clock["object"],
                                                   "deleted": True})
    return render(emu, clock)
