"""BentoML: a `@bentoml.service` whose API calls mleditor's `Predictor`; `Batched` uses a batchable API.

    bentoml serve bentoml_app:Plain --host 127.0.0.1 --port 8010     # POST /predict {"title", "body"}
    bentoml serve bentoml_app:Batched ...                            # POST /predict {"questions": [{...}]}

One worker process, access log off. Batched, BentoML's adaptive batching merges the `questions` lists of
concurrent requests (at most 16 rows, 10 ms) into one call, scored with one model call.
"""

from __future__ import annotations

from typing import Any

import bentoml

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question

CONFIG: dict[str, Any] = {"workers": 1, "logging": {"access": {"enabled": False}}}


@bentoml.service(**CONFIG)
class Plain:
    def __init__(self) -> None:
        self.predictor = Predictor.load(threads=1)

    @bentoml.api
    def predict(self, title: str, body: str) -> dict[str, Any]:
        return self.predictor.predict(Question(title, body), "v2").to_dict()


@bentoml.service(**CONFIG)
class Batched:
    def __init__(self) -> None:
        self.predictor = Predictor.load(threads=1)

    @bentoml.api(batchable=True, max_batch_size=16, max_latency_ms=10)
    def predict(self, questions: list[dict[str, str]]) -> list[dict[str, Any]]:
        asked = [Question(q["title"], q["body"]) for q in questions]
        return [p.to_dict() for p in self.predictor.predict_many(asked, "v2")]
