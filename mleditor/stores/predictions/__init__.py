"""The prediction store family: records, the `PredictionStore` interface, backends and `open_store(url)`."""

from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.factory import open_store
from mleditor.stores.predictions.records import (
    ChunkResult,
    JobRecord,
    PredictionRecord,
    RejectRecord,
)

__all__ = ["ChunkResult", "JobRecord", "PredictionRecord", "PredictionStore", "RejectRecord", "open_store"]
