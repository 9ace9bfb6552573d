"""ML Editor: scores how well a Stack Exchange-style question will be received and recommends edits.

    import mleditor
    predictor = mleditor.Predictor.load()
    predictor.predict(mleditor.Question("Flat beer?", "It tastes flat."), "v3").score
"""

from mleditor._exports import lazy_exports

__version__ = "0.1.0"

__all__, __getattr__ = lazy_exports(__name__, {
    "InvalidInputError": "mleditor.errors",
    "MLEditorError": "mleditor.errors",
    "Pipeline": "mleditor.core.pipeline",
    "PipelineResult": "mleditor.core.requests",
    "PredictRequest": "mleditor.core.requests",
    "Prediction": "mleditor.core.prediction",
    "Predictor": "mleditor.core.predictor",
    "Question": "mleditor.core.records",
    "resolve_model": "mleditor.core.registry",
})
