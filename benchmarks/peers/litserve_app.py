"""LitServe: a `LitAPI` whose `predict` calls mleditor's `Predictor`; with --batch N, LitServe's batching.

    python litserve_app.py --port 8010 [--batch 16]      # POST /predict {"title", "body"}

LitServe runs the API in an inference worker process and uvicorn in another, joined by queues. Batched,
`predict` gets up to N decoded questions collected within 1 ms and scores them with one model call.
"""

from __future__ import annotations

import argparse
from typing import Any

import litserve as ls

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question


class QuestionAPI(ls.LitAPI):
    def setup(self, device: str) -> None:
        self.predictor = Predictor.load(threads=1)

    def decode_request(self, request):  # type: ignore[no-untyped-def]  # LitServe reads a hint as a query parameter
        return Question(request["title"], request["body"])

    def predict(self, x: Any) -> Any:
        if isinstance(x, list):  # batched: one model call for every question of the batch
            return [p.to_dict() for p in self.predictor.predict_many(x, "v2")]
        return self.predictor.predict(x, "v2").to_dict()

    def encode_response(self, output: dict[str, Any]) -> dict[str, Any]:
        return output


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch", type=int, default=0, help="max batch size (0: no batching)")
    args = parser.parse_args()
    api = QuestionAPI(max_batch_size=args.batch or 1, batch_timeout=0.001 if args.batch else 0.0)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1, timeout=30)
    server.run(host="127.0.0.1", port=args.port, log_level="warning", generate_client_file=False,
               access_log=False)
