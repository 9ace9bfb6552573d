"""The book's way of serving the model, as bench_serve's baseline: Flask, one synchronous predict per request.

    .venv/bin/python benchmarks/flask_baseline.py --port 8001     # then POST /predict/v2 {"title", "body"}

One process on Flask's built-in threaded server (Werkzeug's, as `flask run` starts it): each request
gets a thread that calls `Predictor.predict` on its own question, so there is no batching, no cache
and, because of the GIL, at most about one core of Python at a time. The model is the shipped one,
loaded through mleditor's core; nothing here duplicates model code.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.core.registry import MODEL_VERSIONS


def create_app(predictor: Predictor) -> Flask:
    """A Flask app with POST /predict/<version> (JSON {"title", "body"} in, the prediction out) and GET /healthz."""
    app = Flask(__name__)

    @app.post("/predict/<version>")
    def predict(version: str) -> ResponseReturnValue:
        if version not in MODEL_VERSIONS:
            return jsonify(error=f"unknown model version {version[:40]!r}; use {', '.join(MODEL_VERSIONS)}"), 404
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), str) for k in ("title", "body")):
            return jsonify(error='send JSON {"title": "...", "body": "..."}'), 422
        prediction = predictor.predict(Question(payload["title"], payload["body"]), version)
        return jsonify(prediction.to_dict())

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Load the shipped model and serve it on Werkzeug's threaded development server until interrupted."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8001, help="TCP port (default 8001)")
    parser.add_argument("--quiet", action="store_true", help="no access log line per request")
    args = parser.parse_args(argv)
    if args.quiet:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    create_app(Predictor.load(threads=1)).run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
