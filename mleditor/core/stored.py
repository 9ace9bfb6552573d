"""Stored predictions, as the doors share them: the content hash that identifies a question's text,
and the lookup protocol a prediction store offers (batch writes it, hybrid reads and writes it)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mleditor.core.features import normalize, normalize_title
from mleditor.core.prediction import Prediction


def content_hash(title: str, body: str) -> str:
    """Hex SHA-256 of the normalized title and body (the Markdown-flavoured text the featurizer sees).

    The same hash means the same features, hence the same prediction from the same model. The
    title's length is part of the payload so that no (title, body) split can collide with another.
    """
    clean_title, clean_body = normalize_title(title), normalize(body)
    payload = f"{len(clean_title)}:{clean_title}{clean_body}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class StoredPrediction:
    """A prediction as a store returns it, with what it was computed from and when."""

    prediction: Prediction
    content_hash: str
    created: datetime


class PredictionLookup(Protocol):
    """What the hybrid door needs from a prediction store (all calls may block; run them off the event loop)."""

    def find_by_hash(self, model_id: str, version: str, content_hash: str) -> StoredPrediction | None: ...

    def find_by_question(self, site: str, question_id: int, version: str) -> StoredPrediction | None: ...

    def save(self, prediction: Prediction, content_hash: str, title: str) -> None: ...
