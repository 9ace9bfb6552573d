"""The accounts store: API keys and user profiles in one SQLite file, shared by every worker process and door.

WAL mode lets several processes read while one writes. Within a process one connection is shared
by all threads behind a lock: each statement takes microseconds, so a pool would buy nothing.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mleditor.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id   TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    key_hash TEXT NOT NULL,             -- hex SHA-256 of the secret part; the key itself is never stored
    scopes   TEXT NOT NULL,             -- comma-separated model versions
    created  TEXT NOT NULL,             -- ISO 8601, UTC
    revoked  TEXT                       -- ISO 8601 when revoked, else NULL
);
CREATE TABLE IF NOT EXISTS profiles (
    user_id           TEXT PRIMARY KEY,
    questions_asked   INTEGER NOT NULL DEFAULT 0,
    median_score      REAL,
    preferred_version TEXT,
    site              TEXT,             -- the user's Stack Exchange site and account id: with both, the
    owner_id          INTEGER           -- author key `site:user:<owner_id>` of their personal model part
);
"""
# Columns added after the first release: (table, column, type), added to an older file when it is opened.
ADDED_COLUMNS = (("profiles", "site", "TEXT"), ("profiles", "owner_id", "INTEGER"))


class AccountStore:
    """One SQLite database file (or ":memory:") with the api_keys and profiles tables."""

    def __init__(self, path: Path | str = "mleditor.db") -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout = 5000")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(SCHEMA)
            self._add_missing_columns()
        except sqlite3.Error as exc:
            raise DataError(f"cannot open the store {self.path}: {exc}; check --store / store_path") from None
        self._lock = threading.Lock()

    def _add_missing_columns(self) -> None:
        """Bring a file written by an earlier release up to SCHEMA (its rows keep NULL in the new columns)."""
        for table, column, kind in ADDED_COLUMNS:
            present = {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read statement and return all rows."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one write statement in its own transaction; return the number of rows changed."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def ping(self) -> None:
        """Raise DataError unless the database answers a trivial query (for /readyz)."""
        try:
            self.query("SELECT 1 FROM api_keys LIMIT 1")
        except sqlite3.Error as exc:
            raise DataError(f"the store {self.path} does not answer: {exc}") from None

    def close(self) -> None:
        """Close the connection; later calls fail (and ping reports it)."""
        with self._lock:
            self._conn.close()
