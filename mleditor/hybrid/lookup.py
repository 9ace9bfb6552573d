"""The prediction store family (`mleditor.stores.predictions`) as the core's `PredictionLookup`.

Live results have no site or question id: they are stored under site `_live` with an id taken
from their content hash (and, for a personalized one, its author's part), so a later identical
question finds them by hash, and one author's personalized answer never replaces another's.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from mleditor.core.prediction import Prediction, personal_key
from mleditor.core.stored import StoredPrediction
from mleditor.errors import DataError
from mleditor.stores.predictions import PredictionRecord, PredictionStore, open_store
from mleditor.stores.predictions.records import prediction_record


class StoreLookup:
    """A `PredictionStore` (SQLite, PostgreSQL, memory) seen through the lookup protocol the hybrid door uses."""

    LIVE_SITE = "_live"

    def __init__(self, store: PredictionStore) -> None:
        self.store = store

    @classmethod
    def open(cls, url: str) -> StoreLookup:
        """The lookup over the store at `url` (`sqlite:///...`, `postgresql://...`, `memory://`)."""
        return cls(open_store(url))

    def get_by_content_hash(self, model_id: str, version: str, content_hash: str,
                            personal: str = "") -> StoredPrediction | None:
        return _stored(self.store.get_by_content_hash(model_id, version, content_hash, personal))

    def get_prediction(self, site: str, question_id: int, version: str) -> StoredPrediction | None:
        return _stored(self.store.get_prediction(site, question_id, version))

    def save(self, prediction: Prediction, content_hash: str, title: str) -> None:
        personal = personal_key(prediction.personal)
        digest = content_hash if not personal else hashlib.sha256(f"{content_hash}:{personal}".encode()).hexdigest()
        question_id = int(digest[:15], 16)
        self.store.upsert([prediction_record(self.LIVE_SITE, question_id, title, content_hash, prediction)])

    def close(self) -> None:
        self.store.close()


def _stored(record: PredictionRecord | None) -> StoredPrediction | None:
    if record is None:
        return None
    created = datetime.fromisoformat(record.created)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return StoredPrediction(record.to_prediction(), record.content_hash, created)


class ReopeningLookup:
    """A `StoreLookup` for `url` that opens its store on first use and, while it cannot, tries again at most
    every `retry_s` seconds; meanwhile every call raises DataError, which the hybrid door answers live.

    So a store that is down, read-only or not there yet never stops the server from starting.
    """

    def __init__(self, url: str, retry_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.retry_s = retry_s
        self.clock = clock
        self._lookup: StoreLookup | None = None
        self._failed: tuple[float, str] | None = None
        self._lock = threading.Lock()

    def lookup(self) -> StoreLookup:
        """The open lookup; DataError (the last reason) while the store cannot be opened."""
        with self._lock:
            if self._lookup is not None:
                return self._lookup
            if self._failed is not None and self.clock() - self._failed[0] < self.retry_s:
                raise DataError(self._failed[1])
            try:
                self._lookup = StoreLookup.open(self.url)
            except Exception as exc:  # noqa: BLE001 - any failure to open is a store outage
                self._failed = (self.clock(), f"cannot open the prediction store: {str(exc).splitlines()[0]}")
                raise DataError(self._failed[1]) from None
            return self._lookup

    def get_by_content_hash(self, model_id: str, version: str, content_hash: str,
                            personal: str = "") -> StoredPrediction | None:
        return self.lookup().get_by_content_hash(model_id, version, content_hash, personal)

    def get_prediction(self, site: str, question_id: int, version: str) -> StoredPrediction | None:
        return self.lookup().get_prediction(site, question_id, version)

    def save(self, prediction: Prediction, content_hash: str, title: str) -> None:
        self.lookup().save(prediction, content_hash, title)
