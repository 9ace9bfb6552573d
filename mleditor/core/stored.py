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
    return normalized_content_hash(normalize_title(title), normalize(body))


def normalized_content_hash(title: str, body: str) -> str:
    """`content_hash` of text already normalized (as `prepare_question` returns it), without normalizing again."""
    payload = f"{len(title)}:{title}{body}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class StoredPrediction:
    """A prediction as a store returns it, with what it was computed from and when."""

    prediction: Prediction
    content_hash: str
    created: datetime


class PredictionLookup(Protocol):
    """What the hybrid door needs from a prediction store, in the store's own verbs.

    Every call may block (a database); the hybrid door runs them off the event loop.
    """

    def get_by_content_hash(self, model_id: str, version: str, content_hash: str,
                            personal: str = "") -> StoredPrediction | None:
        """The most recent prediction of this content by this model id and version, or None.

        `personal` ("" the global model, else the `Personalization.key` of an author's part): only a
        prediction made with that same part.
        """

    def get_prediction(self, site: str, question_id: int, version: str) -> StoredPrediction | None:
        """The stored prediction of one question, or None."""

    def save(self, prediction: Prediction, content_hash: str, title: str) -> None:
        """Store a prediction computed live, findable by its content hash (and its personalization)."""
