"""Thread-safe object store: every Stripe object by id, in memory, optionally mirrored to SQLite.

With a db path every write goes straight to the SQLite file (stdlib sqlite3), and the file is
loaded back on start, so state survives a restart. Callers mutate an object and `put` it again.
"""
from __future__ import annotations

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

    def _index(self, obj_id: str, kind: str, seq: int, obj: dict[str, Any]) -> None:
        self._objects[obj_id] = obj
        self._kinds[obj_id] = kind
        self._seq[obj_id] = seq
        self._by_kind.setdefault(kind, {})[obj_id] = None

    def get(self, obj_id: str, kind: str | None = None) -> dict[str, Any] | None:
        """The object with this id (of this kind, when given), or None."""
        obj = self._objects.get(obj_id)
        if obj is None or (kind is not None and self._kinds[obj_id] != kind):
            return None
        return obj

    def put(self, obj: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
        """Insert or save an object (kind defaults to its `object` value)."""
        with self.lock:
            obj_id = obj["id"]
            if obj_id in self._objects:
                kind, seq = self._kinds[obj_id], self._seq[obj_id]
                self._objects[obj_id] = obj
            else:
                kind = kind or obj["object"]
                seq = self._next_seq
                self._next_seq += 1
                self._index(obj_id, kind, seq, obj)
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO objects (id, kind, seq, body) "
                                 "VALUES (?, ?, ?, ?)", (obj_id, kind, seq, json.dumps(obj)))
            return obj

    def remove(self, obj_id: str) -> None:
        """Forget an object entirely."""
        with self.lock:
            kind = self._kinds.pop(obj_id, None)
            if kind is None:
                return
            del self._objects[obj_id]
            del self._seq[obj_id]
            self._by_kind[kind].pop(obj_id, None)
            if self._db is not None:
                self._db.execute("DELETE FROM objects WHERE id = ?", (obj_id,))

    def all(self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None,
            oldest_first: bool = False) -> list[dict[str, Any]]:
        """Objects of a kind, newest first (as Stripe lists them), optionally filtered."""
        with self.lock:
            ids = list(self._by_kind.get(kind, {}))
        if not oldest_first:
            ids.reverse()
        objs = (self._objects[i] for i in ids if i in self._objects)
        return [o for o in objs if where is None or where(o)]

    def kinds(self) -> Iterator[str]:
        """Every kind of object held."""
        return iter(list(self._by_kind))

    def kv_get(self, key: str, default: Any = None) -> Any:
        """A small persisted setting or record."""
        return self._kv.get(key, default)

    def kv_set(self, key: str, value: Any) -> None:
        """Save a small persisted setting or record."""
        with self.lock:
            self._kv[key] = value
            if self._db is not None:
                self._db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)",
                                 (key, json.dumps(value)))
