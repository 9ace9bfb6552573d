"""Batch predictions: precompute, store, look up.

Score every question of a dump (or a CSV, a Parquet file, a table) ahead of time, in chunks across
all cores or on Ray Data, into a prediction store (SQLite or PostgreSQL) that the API and the
hybrid door read. `mleditor batch --help` shows the commands.
"""

from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.factory import open_store
from mleditor.stores.predictions.records import (
    JobRecord,
    PredictionRecord,
    RejectRecord,
)

__all__ = ["JobRecord", "PredictionRecord", "PredictionStore", "RejectRecord", "open_store"]
