"""The shared prediction store: a PostgreSQL server (extra `postgres`: psycopg 3).

Choose it when several machines write predictions or several API replicas read them; the tables
and the SQL are the same as SQLite's (see `mleditor.stores.predictions.sql`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from mleditor.errors import DataError, require_extra
from mleditor.stores.predictions.records import redact
from mleditor.stores.predictions.sql import ADDED_COLUMNS, SCHEMA, SqlPredictionStore

_SCHEMA_LOCK = 0x6D6C6564  # "mled": concurrent first runs must not race on CREATE TABLE IF NOT EXISTS
_JOBS_LOCK = 0x6A6F6273  # "jobs": with a hash of the fingerprint, the key of start_job's lock


class PostgresStore(SqlPredictionStore):
    """A `postgresql://` store; the tables are created in the connection's current schema when missing.

    With `create=False` nothing is created: a database without the tables is a DataError.
    """

    def __init__(self, url: str, *, create: bool = True) -> None:
        super().__init__(url)
        require_extra("psycopg", "postgres")
        import psycopg

        self._errors = psycopg.Error
        try:
            self._conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise DataError(f"cannot connect to the store {redact(url)}: {_first_line(exc)}; "
                            "check --store and that the server is running") from None
        if not create:
            self._check_tables()
        with self._transaction() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            if create:
                for statement in SCHEMA.format(integer="BIGINT", real="DOUBLE PRECISION").split(";"):
                    cursor.execute(statement)
            for column, kind in ADDED_COLUMNS:  # a store written by an earlier release
                cursor.execute(f"ALTER TABLE predictions ADD COLUMN IF NOT EXISTS {column} {kind}")

    def _check_tables(self) -> None:
        """DataError unless the connection's schema already holds the store's tables."""
        _, rows = self._read("SELECT to_regclass('predictions'), to_regclass('jobs'), to_regclass('rejects')")
        if None in rows[0]:
            self.close()
            raise DataError(f"no store at {redact(self.url)}: the database has no predictions, jobs and rejects "
                            "tables; check --store (`mleditor batch run` creates them)")

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s")

    def _lock_jobs(self, cursor: Any, fingerprint: str) -> None:
        # READ COMMITTED lets two transactions both find no job and both insert one: serialize them per
        # fingerprint; the lock is released at commit, when the first one's job is visible to the next.
        cursor.execute("SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", [_JOBS_LOCK, fingerprint])

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        try:
            with self._lock, self._conn.transaction(), self._conn.cursor() as cursor:
                yield cursor
        except self._errors as exc:
            raise DataError(f"writing to the store {redact(self.url)} failed: {_first_line(exc)}") from None

    def _read(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            with self._lock, self._conn.cursor() as cursor:
                cursor.execute(sql, params)
                return [d.name for d in cursor.description or []], cursor.fetchall()
        except self._errors as exc:
            raise DataError(f"reading the store {redact(self.url)} failed: {_first_line(exc)}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
