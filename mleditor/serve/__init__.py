"""Door 1: the streaming API and web page (FastAPI + uvicorn), and its Ray Serve scale-out."""
