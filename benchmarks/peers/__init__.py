"""The peer apps bench_peers.py serves: each framework's documented way, around mleditor's `Predictor`.

Every app answers POST with JSON {"title", "body"} (BentoML's batchable API: {"questions": [{...}]}) by
validating, featurizing and scoring the question with model v2 through mleditor's core, on one
onnxruntime thread, with per-request access logs off. Each runs in its framework's own virtualenv.
"""
