"""The embedded database: one SQLite file shared by every process of a bot.

Many shard processes open the same file. What makes that correct:

* WAL journal mode: readers never block the writer and the writer never blocks readers;
  writers take turns on SQLite's file lock.
* ``busy_timeout``: a process that finds the write lock taken waits (up to
  :data:`BUSY_TIMEOUT` seconds) instead of failing at once.
* ``incr`` runs in one ``BEGIN IMMEDIATE`` transaction: the write lock is taken *before* the
  value is read, so no other process can change it between the read and the write (no lost
  updates). The sum is computed in Python rather than in SQL so that integers stay exact at
  any size and floats keep all their digits — the same answers as the Redis backend.
  (SQLite's ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` upsert is atomic too, but its
  arithmetic turns integers past 2**63 into reals and prints reals with 15 digits.)

Calls are blocking but local: a read or a write of one small row takes a few microseconds
(tens with WAL's fsync-free commits, ``synchronous=NORMAL``), so they run on the event loop
thread. Only a lock held by another process makes a call wait, for as long as that process
holds it (a single-row transaction).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from ezlang.toolkit.db import (
    MISSING,
    Database,
    DatabaseError,
    add_numbers,
    decode_value,
    encode_value,
)

#: Seconds a process waits for another process's write lock before the call fails.
BUSY_TIMEOUT = 30.0

_SCHEMA = "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"
_UPSERT = (
    "INSERT INTO kv (key, value) VALUES (?, ?) "
    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)


class SqliteDatabase(Database):
    """The :class:`~ezlang.toolkit.db.Database` in the SQLite file ``path`` (created on first use)."""

    def __init__(self, path: str) -> None:
        self.location = path
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # A connection must never cross a fork (the shard manager forks shards from a
        # zygote): a process that did not open it opens its own.
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        path = Path(self.location)
        if not path.parent.is_dir():
            raise DatabaseError(f"cannot open the database file {path}: no such directory")
        try:
            # isolation_level=None: autocommit; the one multi-statement operation (incr)
            # opens its own transaction explicitly.
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
            # WAL is a property of the file (set once, kept); NORMAL sync is durable across
            # a crash of the process, which is what a bot needs, and much faster than FULL.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _error(self, exc: sqlite3.Error) -> DatabaseError:
        code = getattr(exc, "sqlite_errorname", "")
        if code.startswith("SQLITE_BUSY") or code.startswith("SQLITE_LOCKED"):
            return DatabaseError(
                f"the database file {self.location} stayed locked by another process "
                f"for more than {BUSY_TIMEOUT:g} s"
            )
        return DatabaseError(f"the database file {self.location}: {exc}")

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        conn = self._connect()
        try:
            return conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    # -- operations --------------------------------------------------------------------------

    async def get(self, key: str) -> tuple[bool, Any]:
        row = self._run("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return (False, None) if row is None else (True, decode_value(row[0], key))

    async def set(self, key: str, value: Any) -> None:
        self._run(_UPSERT, (key, encode_value(value)))

    async def delete(self, key: str) -> bool:
        return self._run("DELETE FROM kv WHERE key = ?", (key,)).rowcount > 0

    async def has(self, key: str) -> bool:
        return self._run("SELECT 1 FROM kv WHERE key = ?", (key,)).fetchone() is not None

    async def keys(self, prefix: str = "") -> list[str]:
        # key >= prefix lets SQLite start the primary-key scan at the prefix; substr() then
        # stops the matches exactly (LIKE/GLOB would need escaping and are case-folded).
        rows = self._run(
            "SELECT key FROM kv WHERE key >= ? AND substr(key, 1, ?) = ? ORDER BY key",
            (prefix, len(prefix), prefix),
        ).fetchall()
        # SQLite orders by UTF-8 bytes, which is code-point order, as Python's sort.
        return [row[0] for row in rows]

    async def incr(self, key: str, by: int | float = 1) -> int | float:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
            result = add_numbers(MISSING if row is None else decode_value(row[0], key), by)
            conn.execute(_UPSERT, (key, encode_value(result)))
            conn.execute("COMMIT")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the failed statement may already have ended the transaction
            if isinstance(exc, sqlite3.Error):
                raise self._error(exc) from None
            raise
        return result

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and self._pid == os.getpid():
            conn.close()
