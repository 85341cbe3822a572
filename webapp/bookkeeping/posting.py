"""Committing proposed entries to the ledger: balanced, all or nothing, and never twice."""
from __future__ import annotations

import logging

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from webapp import clock
from webapp.bookkeeping import history
from webapp.bookkeeping.services import archived_conflict
from webapp.bookkeeping.transactions import check_ids
from webapp.errors import Conflict, NotFound, Unbalanced
from webapp.extensions import commit_keeping_loaded, db
from webapp.metering.guards import settle_pending
from webapp.models import Account, JournalEntry, JournalLine

log = logging.getLogger(__name__)


# Built once (commit and propose run them on every request). One query: an entry has two lines, so
# joining them costs less than a second round trip. populate_existing: the database's state, also for
# entries an UPDATE in this unit of work just changed.
_ENTRIES = (select(JournalEntry)
            .where(JournalEntry.tenant_id == bindparam("tenant_id"), JournalEntry.id.in_(bindparam("ids", expanding=True)))
            .options(joinedload(JournalEntry.account).joinedload(Account.company), joinedload(JournalEntry.transaction),
                     joinedload(JournalEntry.lines).joinedload(JournalLine.account))
            .execution_options(populate_existing=True))
# Conditional on status, so a concurrent commit of the same entry can never post it twice. A Core
# UPDATE on the table (the ORM-enabled one costs four times as much per execution); the loaded entries
# are given what it wrote below, so there is nothing for the ORM to synchronise.
_JE = JournalEntry.__table__.c
_POST = (update(JournalEntry.__table__)
         .where(_JE.id.in_(bindparam("ids", expanding=True)), _JE.status == "proposed")
         .values(status="posted", posted_at=bindparam("now", type_=_JE.posted_at.type)))


def load_entries(tenant_id: str, ids: list[str]) -> list[JournalEntry]:
    """The tenant's entries with these ids, in request order; 404 lists unknown and other tenants' ids."""
    found = {e.id: e for e in db.session.scalars(_ENTRIES, {"tenant_id": tenant_id, "ids": ids}).unique()}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound("Some journal entries do not exist.", ids=missing)
    return [found[i] for i in ids]


def check_balanced(entry: JournalEntry) -> None:
    """Raise Unbalanced unless the entry has two or more lines summing to zero."""
    if len(entry.lines) < 2 or sum(line.amount_cents for line in entry.lines) != 0:
        raise Unbalanced("The entry's lines do not sum to zero; nothing was posted.", ids=[entry.id])


def commit_entries(tenant_id: str, je_ids: list[str]) -> list[JournalEntry]:
    """Post the entries in one unit of work (with whatever the gate counted); 409 ALREADY_POSTED lists posted ones."""
    ids = check_ids(je_ids, "je_ids")
    entries = load_entries(tenant_id, ids)
    posted = [e.id for e in entries if e.status == "posted"]
    if posted:
        raise Conflict("ALREADY_POSTED", "Some entries are posted already.", ids=posted)
    # A proposal made before its company was archived: posting it would change closed books. The
    # company comes with the entry's account in the one load, so this costs no statement.
    archived = next((e.account.company for e in entries if e.account.company.archived_at is not None), None)
    if archived is not None:
        raise archived_conflict(archived)
    for entry in entries:
        check_balanced(entry)
    now = clock.now()
    if db.session.execute(_POST, {"ids": ids, "now": now}).rowcount != len(ids):
        raise Conflict("ALREADY_POSTED", "Some entries were posted meanwhile; nothing was posted.", ids=ids)
    for entry in entries:  # what the UPDATE wrote, as loaded state: the answer needs no re-read
        set_committed_value(entry, "status", "posted")
        set_committed_value(entry, "posted_at", now)
    history.count_posted(entries)  # the proposer's memory of what went where, in this unit of work
    settle_pending()  # the gate's count, last: the usage row is locked only from here to the commit
    commit_keeping_loaded()
    log.info("bookkeeping.posted", extra={"tenant_id": tenant_id, "count": len(ids)})
    return entries
