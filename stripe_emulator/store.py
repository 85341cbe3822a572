"""Thread-safe object store: every Stripe object by id, in memory, optionally mirrored to SQLite.

With a db path every write goes to the SQLite file (stdlib sqlite3), and the file is loaded back
on start, so state survives a restart. Callers mutate an object and `put` it again.

`transaction()` makes a block all-or-nothing, as a Stripe request is: the first time the block
is handed an object (get, all, put) the store keeps a pristine copy, and the SQLite writes run
inside BEGIN ... COMMIT. If the block raises, every object it touched is put back (also ones it
mutated without `put`ting them), the SQLite transaction is rolled back and the `after_commit`
callbacks (webhook deliveries) are dropped.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import sqlite3
import threading
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (id TEXT PRIMARY KEY, kind TEXT NOT NULL,
                                    seq INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_ABSENT = object()  # journal marker: the key did not exist before the transaction


class _Journal:
    """What an open transaction needs to undo itself."""

    def __init__(self, next_seq: int) -> None:
        self.owner = threading.get_ident()
        self.next_seq = next_seq
        self.objects: dict[str, tuple[str, int, dict[str, Any]] | None] = {}  # None: new
        self.kv: dict[str, Any] = {}
        self.after_commit: list[Callable[[], None]] = []
        self.began = False  # BEGIN sent to SQLite (only once something is written)


class Store:
    """All emulator state. Hold `lock` around any read-modify-write sequence."""

    def __init__(self, db_path: str | None = None) -> None:
        self.lock = threading.RLock()
        self._objects: dict[str, dict[str, Any]] = {}
        self._kinds: dict[str, str] = {}
        self._seq: dict[str, int] = {}
        self._by_kind: dict[str, dict[str, None]] = {}
        self._kv: dict[str, Any] = {}
        self._next_seq = 1
        self._db: sqlite3.Connection | None = None
        self._tx: _Journal | None = None
        if db_path:
            self._open(db_path)

    def _open(self, db_path: str) -> None:
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        rows = self._db.execute("SELECT id, kind, seq, body FROM objects ORDER BY seq").fetchall()
        for obj_id, kind, seq, body in rows:
            self._index(obj_id, kind, seq, json.loads(body))
            self._next_seq = max(self._next_seq, seq + 1)
        for key, value in self._db.execute("SELECT key, value FROM kv"):
            self._kv[key] = json.loads(value)
        log.info("store.loaded", extra={"db_path": db_path, "objects": len(rows)})

    def close(self) -> None:
        """Close the SQLite file, if any."""
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block all-or-nothing (under the lock); a nested call joins the outer one.

        An exception with a true `keep_changes` attribute (a declined charge that Stripe keeps
        on record) commits before it propagates; any other exception rolls everything back.
        """
        with self.lock:
            if self._tx is not None:
                yield
                return
            self._tx = journal = _Journal(self._next_seq)
            try:
                yield
            except BaseException as exc:
                if getattr(exc, "keep_changes", False):
                    self._commit(journal)
                else:
                    self._rollback(journal)
                raise
            self._commit(journal)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once the current transaction commits (at once outside one)."""
        journal = self._journal()
        if journal is None:
            callback()
        else:
            journal.after_commit.append(callback)

    def _journal(self) -> _Journal | None:
        journal = self._tx
        if journal is None or journal.owner != threading.get_ident():
            return None
        return journal

    def _touch(self, obj_id: str) -> None:
        """Remember the object as it was before the transaction first handed it out."""
        journal = self._journal()
        if journal is None or obj_id in journal.objects:
            return
        obj = self._objects.get(obj_id)
        journal.objects[obj_id] = None if obj is None else (
            self._kinds[obj_id], self._seq[obj_id], copy.deepcopy(obj))

    def _commit(self, journal: _Journal) -> None:
        self._tx = None
        if journal.began and self._db is not None:
            self._db.execute("COMMIT")
        for callback in journal.after_commit:
            callback()

    def _rollback(self, journal: _Journal) -> None:
        self._tx = None
        reorder: set[str] = set()
        for obj_id, saved in journal.objects.items():
            if saved is None:  # created by the transaction
                self._unindex(obj_id)
                continue
            kind, seq, obj = saved
            if obj_id in self._objects:
                self._objects[obj_id] = obj
            else:  # removed by the transaction
                self._index(obj_id, kind, seq, obj)
                reorder.add(kind)
        for kind in reorder:  # re-added ids go back to their place in creation order
            ids = sorted(self._by_kind[kind], key=self._seq.__getitem__)
            self._by_kind[kind] = dict.fromkeys(ids)
        for key, value in journal.kv.items():
            if value is _ABSENT:
                self._kv.pop(key, None)
            else:
                self._kv[key] = value
        self._next_seq = journal.next_seq
        if journal.began and self._db is not None:
            self._db.execute("ROLLBACK")
        log.info("store.rolled_back", extra={"objects": len(journal.objects)})

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        if self._db is None:
            return
        journal = self._journal()
        if journal is not None and not journal.began:
            self._db.execute("BEGIN")
            journal.began = True
        self._db.execute(sql, args)

    def _index(self, obj_id: str, kind: str, seq: int, obj: dict[str, Any]) -> None:
        self._objects[obj_id] = obj
        self._kinds[obj_id] = kind
        self._seq[obj_id] = seq
        self._by_kind.setdefault(kind, {})[obj_id] = None

    def _unindex(self, obj_id: str) -> None:
        kind = self._kinds.pop(obj_id, None)
        if kind is None:
            return
        del self._objects[obj_id]
        del self._seq[obj_id]
        self._by_kind[kind].pop(obj_id, None)

    def get(self, obj_id: str, kind: str | None = None) -> dict[str, Any] | None:
        """The object with this id (of this kind, when given), or None."""
        if not isinstance(obj_id, str):
            return None
        obj = self._objects.get(obj_id)
        if obj is None or (kind is not None and self._kinds[obj_id] != kind):
            return None
        self._touch(obj_id)
        return obj

    def put(self, obj: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
        """Insert or save an object (kind defaults to its `object` value)."""
        with self.lock:
            obj_id = obj["id"]
            self._touch(obj_id)
            if obj_id in self._objects:
                kind, seq = self._kinds[obj_id], self._seq[obj_id]
                self._objects[obj_id] = obj
            else:
                kind = kind or obj["object"]
                seq = self._next_seq
                self._next_seq += 1
                self._index(obj_id, kind, seq, obj)
            self._write("INSERT OR REPLACE INTO objects (id, kind, seq, body) VALUES (?, ?, ?, ?)",
                        (obj_id, kind, seq, json.dumps(obj)))
            return obj

    def remove(self, obj_id: str) -> None:
        """Forget an object entirely."""
        with self.lock:
            if obj_id not in self._kinds:
                return
            self._touch(obj_id)
            self._unindex(obj_id)
            self._write("DELETE FROM objects WHERE id = ?", (obj_id,))

    def ids(self, kind: str) -> list[str]:
        """The ids of every object of a kind, oldest first (nothing is handed out)."""
        with self.lock:
            return list(self._by_kind.get(kind, {}))

    def all(self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None,
            oldest_first: bool = False) -> list[dict[str, Any]]:
        """Objects of a kind, newest first (as Stripe lists them), optionally filtered."""
        ids = self.ids(kind)
        if not oldest_first:
            ids.reverse()
        objs = (self._objects.get(i) for i in ids)
        found = [o for o in objs if o is not None and (where is None or where(o))]
        if self._journal() is not None:
            for obj in found:
                self._touch(obj["id"])
        return found

    def kinds(self) -> Iterator[str]:
        """Every kind of object held."""
        return iter(list(self._by_kind))

    def kv_get(self, key: str, default: Any = None) -> Any:
        """A small persisted setting or record."""
        return self._kv.get(key, default)

    def kv_set(self, key: str, value: Any) -> None:
        """Save a small persisted setting or record."""
        with self.lock:
            journal = self._journal()
            if journal is not None and key not in journal.kv:
                journal.kv[key] = copy.deepcopy(self._kv[key]) if key in self._kv else _ABSENT
            self._kv[key] = value
            self._write("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                        (key, json.dumps(value)))
