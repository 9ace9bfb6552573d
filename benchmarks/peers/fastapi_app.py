"""Plain FastAPI + uvicorn: an `async def` route calling `Predictor.predict` on the event loop, no batching.

    python fastapi_app.py --port 8010      # POST /predict {"title", "body"}
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from mleditor.core.predictor import Predictor
from mleditor.core.records import Question


class QuestionIn(BaseModel):
    title: str
    body: str


def create_app(predictor: Predictor) -> FastAPI:
    app = FastAPI()

    @app.post("/predict")
    async def predict(question: QuestionIn) -> dict[str, object]:
        return predictor.predict(Question(question.title, question.body), "v2").to_dict()

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(Predictor.load(threads=1)), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False)
