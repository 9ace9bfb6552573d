"""`open_store(url)`: the prediction store backend for a URL.

URLs: `sqlite:///relative/file.db`, `sqlite:////absolute/file.db` (the default backend, embedded,
WAL), `postgresql://user:password@host:port/database` (a shared server; extra `postgres`) and
`memory://` (this process only; for tests and demos).
"""

from __future__ import annotations

from mleditor.errors import InvalidInputError
from mleditor.stores.predictions.base import PredictionStore


def open_store(url: str, *, create: bool = True) -> PredictionStore:
    """Open (and create the tables of) the store at `url`; InvalidInputError for an unknown scheme.

    `create=False` opens an existing store only, for commands that just read it: a SQLite file that
    does not exist (a typo in --store) or a database without the store's tables is a DataError, and
    nothing is created.
    """
    if url.startswith("sqlite:///"):
        from mleditor.stores.predictions.sqlite import SqliteStore

        return SqliteStore(url, create=create)
    if url.startswith(("postgresql://", "postgres://")):
        from mleditor.stores.predictions.postgres import PostgresStore

        return PostgresStore(url, create=create)
    if url == "memory://":
        from mleditor.stores.predictions.memory import MemoryStore

        return MemoryStore()
    raise InvalidInputError(
        f"unknown store URL {url!r}; use sqlite:///path/to/file.db (embedded), "
        "postgresql://user:password@host:port/database (shared server) or memory:// (this process only)"
    )


