"""Ray Serve: one replica whose `__call__` calls mleditor's `Predictor`; with --batch, `@serve.batch`.

    python ray_serve_app.py --port 8010 [--batch 16]      # POST /predict {"title", "body"}

Starts a local Ray (2 CPUs, no dashboard) and Serve's HTTP proxy on 127.0.0.1:<port>, then waits for
SIGTERM and shuts both down. Batched, up to N concurrent questions collected within 1 ms are scored with
one model call. Answers are a `JSONResponse`, so they carry a Content-Length (a dict goes out
chunked). Access logs off; 64 requests may be in flight on the replica (Ray's default is 5).
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question

OPTIONS: dict[str, Any] = {"num_replicas": 1, "max_ongoing_requests": 64,
                           "logging_config": {"enable_access_log": False, "log_level": "WARNING"}}


@serve.deployment(**OPTIONS)
class Plain:
    def __init__(self) -> None:
        self.predictor = Predictor.load(threads=1)

    async def __call__(self, request: Request) -> JSONResponse:
        payload = await request.json()
        return JSONResponse(self.predictor.predict(Question(payload["title"], payload["body"]), "v2").to_dict())


@serve.deployment(**OPTIONS)
class Batched:
    def __init__(self, batch: int) -> None:
        self.predictor = Predictor.load(threads=1)
        self.score.set_max_batch_size(batch)

    @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.001)
    async def score(self, questions: list[Question]) -> list[dict[str, Any]]:
        return [p.to_dict() for p in self.predictor.predict_many(questions, "v2")]

    async def __call__(self, request: Request) -> JSONResponse:
        payload = await request.json()
        return JSONResponse(await self.score(Question(payload["title"], payload["body"])))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--batch", type=int, default=0, help="max batch size (0: no batching)")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    app = Batched.bind(args.batch) if args.batch else Plain.bind()
    serve.run(app, name="peer", route_prefix="/predict")
    stop.wait()
    serve.shutdown()
    ray.shutdown()
