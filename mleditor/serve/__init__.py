"""Door 1: the streaming API and web page (FastAPI + uvicorn), and its Ray Serve scale-out (`engines/ray.py`)."""

from mleditor._exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "MicroBatchRunner": "mleditor.serve.batching",
    "MicroBatcher": "mleditor.serve.batching",
    "PredictionService": "mleditor.serve.service",
    "ServeSettings": "mleditor.serve.settings",
    "create_app": "mleditor.serve.app",
    "load_settings": "mleditor.serve.settings",
})
