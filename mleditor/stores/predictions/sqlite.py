"""The embedded prediction store: one SQLite file in WAL mode (readers never wait for the batch writer).

`synchronous = NORMAL` with WAL keeps every committed chunk through a killed process (only a power
cut can lose the last commits), which is what resuming needs, at a fraction of FULL's cost. One
connection per store, shared by a process's threads behind a lock (an API server may read from
several threads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mleditor.errors import DataError
from mleditor.stores.predictions.sql import ADDED_COLUMNS, SCHEMA, SqlPredictionStore


class SqliteStore(SqlPredictionStore):
    """A `sqlite:///path` store; the file and its folder are created when missing, unless `create=False`."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        super().__init__(url)
        self.path = url.removeprefix("sqlite:///")
        if not self.path:
            raise DataError("the SQLite store URL has no path; use sqlite:///predictions.db")
        file = Path(self.path).expanduser()
        if not create and self.path != ":memory:" and not file.is_file():
            raise DataError(f"no store at {self.path}; check --store (`mleditor batch run` creates one)")
        try:
            if self.path != ":memory:":
                file.parent.mkdir(parents=True, exist_ok=True)
            target = self.path if self.path == ":memory:" else str(file)  # ~ expanded, as for the folder
            self._conn = sqlite3.connect(target, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout = 30000")
            if not create:
                self._check_tables()
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            if create:
                self._conn.executescript(SCHEMA.format(integer="INTEGER", real="REAL"))
            self._add_missing_columns()
        except (sqlite3.Error, OSError) as exc:
            raise DataError(f"cannot open the store {self.path}: {exc}; check --store") from None

    def _add_missing_columns(self) -> None:
        """Bring a store written by an earlier release up to SCHEMA (SQLite has no ADD COLUMN IF NOT EXISTS)."""
        present = {row[1] for row in self._conn.execute("PRAGMA table_info(predictions)")}
        for column, kind in ADDED_COLUMNS:
            if column not in present:
                self._conn.execute(f"ALTER TABLE predictions ADD COLUMN {column} {kind}")

    def _check_tables(self) -> None:
        """DataError unless the file already holds a prediction store (opening it must not turn it into one)."""
        names = {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"predictions", "jobs", "rejects"} <= names:
            self._conn.close()
            raise DataError(f"{self.path} is not a prediction store (no predictions, jobs and rejects tables); "
                            "check --store")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")  # take the write lock now, not half-way through the chunk
                yield cursor
                cursor.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback(cursor)
                raise DataError(f"writing to the store {self.path} failed: {exc}") from None
            except BaseException:
                self._rollback(cursor)
                raise

    def _read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            with self._lock:
                cursor = self._conn.execute(sql, params)
                return [d[0] for d in cursor.description], cursor.fetchall()
        except sqlite3.Error as exc:
            raise DataError(f"reading the store {self.path} failed: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @staticmethod
    def _rollback(cursor: sqlite3.Cursor) -> None:
        if cursor.connection.in_transaction:
            cursor.execute("ROLLBACK")
