"""The public names of `mleditor` and each door package, pinned: adding or dropping one is a deliberate change."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

EXPORTS = {
    "mleditor": ["InvalidInputError", "MLEditorError", "Pipeline", "PipelineResult", "PredictRequest", "Prediction",
                 "Predictor", "Question", "resolve_model"],
    "mleditor.core": ["AllowLocal", "Authorizer", "BandedRunner", "Caller", "Context", "DirectRunner", "InputLimits",
                      "KnownAnswer", "ModelDirectory", "ModelInput", "NoProfiles", "OnnxScorer", "PersonalScorer",
                      "Personalization", "Pipeline",
                      "PipelineHooks", "PipelineResult", "PredictRequest", "Prediction", "PredictionLookup",
                      "Predictor", "ProfileSource", "Question", "Runner", "StoredPrediction", "UserProfile",
                      "ValidRequest", "content_hash", "featurize", "prepare_question", "resolve_model"],
    "mleditor.stores": ["AccountStore", "ApiKeyAuthorizer", "PredictionRecord", "PredictionStore", "SqliteProfiles",
                        "create_api_key", "list_api_keys", "open_store", "revoke_api_key", "upsert_profile"],
    "mleditor.stores.predictions": ["ChunkResult", "JobRecord", "PredictionRecord", "PredictionStore", "RejectRecord",
                                    "open_store"],
    "mleditor.serve": ["MicroBatchRunner", "MicroBatcher", "PredictionService", "ServeSettings", "create_app",
                       "load_settings"],
    "mleditor.batch": ["ChunkScorer", "InputRow", "JobSpec", "JobSummary", "ScheduleSpec", "render_schedule",
                       "run_batch_job"],
    "mleditor.batch.engines": ["Chunk", "ChunkExecutor", "ENGINES", "make_executor"],
    "mleditor.hybrid": ["HybridService", "HybridSettings", "StoreLookup", "create_hybrid_app"],
    "mleditor.cli": [],
}


@pytest.mark.parametrize("package", sorted(EXPORTS))
def test_the_public_names_are_exactly_these_and_each_resolves(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == EXPORTS[package]
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_an_unknown_name_is_an_attribute_error_that_names_the_package():
    import mleditor

    with pytest.raises(AttributeError, match="'mleditor' has no attribute 'Nope'"):
        _ = mleditor.Nope  # type: ignore[attr-defined]


def test_importing_mleditor_or_a_door_package_imports_nothing_heavy():
    code = ("import sys, mleditor, mleditor.core, mleditor.serve, mleditor.batch, mleditor.hybrid, mleditor.stores\n"
            "heavy = [m for m in ('numpy', 'onnxruntime', 'fastapi', 'torch', 'ray') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
