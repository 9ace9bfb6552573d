"""Batch predictions: precompute, store, look up.

Score every question of a dump (or a CSV, a Parquet file, a table) ahead of time, in chunks across
all cores or on Ray Data, into a prediction store (SQLite or PostgreSQL) that the API and the
hybrid door read. `mleditor batch --help` shows the commands.
"""

from mleditor.batch.store import JobRecord, PredictionRecord, PredictionStore, RejectRecord, open_store

__all__ = ["JobRecord", "PredictionRecord", "PredictionStore", "RejectRecord", "open_store"]
