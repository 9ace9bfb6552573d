"""The hybrid door's app: the serve door's app with the hybrid hooks on its service.

    app = create_hybrid_app(ServeSettings(), HybridSettings(store="sqlite:///predictions.db"))

`POST /predict/{model}` and the pages answer stored-when-fresh, else live (`source` says which);
`GET /predictions/{site}/{question_id}` serves a stored prediction by question id.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from mleditor.errors import DataError, InvalidInputError
from mleditor.hybrid.lookup import ReopeningLookup
from mleditor.hybrid.service import HybridService
from mleditor.hybrid.settings import HybridSettings
from mleditor.serve.app import create_app
from mleditor.serve.service import PredictionService
from mleditor.serve.settings import ServeSettings

log = logging.getLogger("mleditor.hybrid")


def create_hybrid_app(settings: ServeSettings, hybrid: HybridSettings) -> FastAPI:
    """The app of `mleditor serve` with `hybrid.store` looked up first (InvalidInputError when no store is set)."""
    if not hybrid.store:
        raise InvalidInputError("hybrid store is not set; give a prediction store URL, e.g. "
                                "MLEDITOR_HYBRID_STORE=sqlite:///predictions.db")
    service = PredictionService.from_settings(settings)
    lookup = ReopeningLookup(hybrid.store)
    try:
        lookup.lookup()  # open it now when it can be opened; a failure is logged, answers are live until it can
    except DataError as exc:
        log.warning("%s; answering live until it can be opened", exc)
    stored = HybridService(service, lookup, hybrid.ttl_s, lookup_timeout_s=hybrid.lookup_timeout_s)
    return create_app(settings, service=service, stored=stored)


def hybrid_app_from_env() -> FastAPI:
    """The factory for `uvicorn --factory` worker processes when a hybrid store is configured."""
    from mleditor.hybrid.settings import load_settings as load_hybrid_settings
    from mleditor.serve.logs import configure_logging
    from mleditor.serve.settings import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_hybrid_app(settings, load_hybrid_settings())
