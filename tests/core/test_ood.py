"""Out of distribution: inputs far outside the training ranges are named in the answer, not scored as a verdict."""

from __future__ import annotations

import numpy as np
import pytest

from mleditor.core.features import DENSE_FEATURES, DENSE_INDEX, featurize
from mleditor.core.hooks import PipelineHooks
from mleditor.core.ood import MARGIN, UNUSUAL_INPUT_LABEL, FeatureRanges, OutOfRange, out_of_distribution
from mleditor.core.pipeline import Pipeline, PredictRequest
from mleditor.core.registry import resolve_model
from mleditor.core.requests import KnownAnswer
from mleditor.core.scorer import OnnxScorer

ONE_LONG_WORD = ("How do I fix my beer?", "a" * 50_000)
ORDINARY = ("How do I keep my bottled ale from gushing?",
            ("I prime with 120 g of sugar per 20 L and bottle after two weeks. Some bottles gush when opened, "
             "others are fine. I sanitize everything with star san. What should I check first?"))


@pytest.fixture(scope="module")
def shipped_pipeline():
    model = resolve_model()
    return Pipeline(model, OnnxScorer.from_path(model.onnx_path).score)


def training_like(rows: int = 1000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(1.0, 2.0, (rows, len(DENSE_FEATURES)))


@pytest.mark.parametrize("version", ["v1", "v2", "v3"])
def test_a_body_of_one_50000_character_word_is_named_unusual_not_likely_well_received(shipped_pipeline, version):
    answer = shipped_pipeline.run(PredictRequest(*ONE_LONG_WORD, version=version)).to_dict()
    assert answer["out_of_distribution"] == ["body_chars", "chars_per_word"]
    assert answer["label"] == UNUSUAL_INPUT_LABEL and "likely well received" not in answer["confidence"]
    ranges = resolve_model().dense_ranges  # the shipped model's training maxima, whatever it was trained on
    most = {name: ranges.maximum[DENSE_INDEX[name]] for name in ("body_chars", "chars_per_word")}
    assert (f"this question is unlike the training questions (body_chars 50,000 vs at most {most['body_chars']:,.0f}, "
            f"chars_per_word 50,000 vs at most {most['chars_per_word']:.3g}): the score is not reliable"
            ) in answer["confidence"]


def test_the_same_letters_with_spaces_are_unusual_too(shipped_pipeline):
    answer = shipped_pipeline.run(PredictRequest("How do I fix my beer?", " ".join("a" * 25_000))).to_dict()
    assert {"body_chars", "body_words", "words_per_sentence"} <= set(answer["out_of_distribution"])
    assert answer["label"] == UNUSUAL_INPUT_LABEL


@pytest.mark.parametrize("question", [ORDINARY, ("how 2 fix my beer??", "it tastes bad. i tried everything!!! thanks")])
def test_an_ordinary_question_gets_no_caveat_and_an_empty_field(shipped_pipeline, question):
    answer = shipped_pipeline.run(PredictRequest(*question)).to_dict()
    assert answer["out_of_distribution"] == []
    assert answer["label"] != UNUSUAL_INPUT_LABEL and "unlike the training questions" not in answer["confidence"]


def test_a_cached_answer_keeps_the_caveat(shipped_pipeline):
    class Memo(PipelineHooks):
        def __init__(self):
            self.known = None

        def known_answer(self, context):
            return self.known

        def after_respond(self, context, result):
            self.known = KnownAnswer(result.prediction, "cache", cached=True, body_words=result.body_words)

    pipeline = Pipeline(shipped_pipeline.model, shipped_pipeline.runner, hooks=[Memo()])
    first, again = (pipeline.run(PredictRequest(*ONE_LONG_WORD)).to_dict() for _ in range(2))
    assert again["cached"] and again["out_of_distribution"] == first["out_of_distribution"] == ["body_chars",
                                                                                                 "chars_per_word"]
    assert again["label"] == first["label"] == UNUSUAL_INPUT_LABEL and again["confidence"] == first["confidence"]


def test_the_serve_doors_answer_model_carries_the_field(shipped_pipeline):
    from mleditor.serve.app import PredictionOut

    answer = shipped_pipeline.run(PredictRequest(*ONE_LONG_WORD)).to_dict()
    assert PredictionOut.model_validate(answer).out_of_distribution == ["body_chars", "chars_per_word"]


def test_every_measured_row_is_inside_its_own_ranges():
    dense = training_like()
    dense[0, 3] = 40.0  # one extreme training question widens the maximum, not the quantiles
    ranges = FeatureRanges.measure(dense)
    assert all(out_of_distribution(row, ranges) == () for row in dense)


def test_a_value_is_flagged_only_past_the_margin_beyond_the_quantiles_and_the_extremes():
    ranges = FeatureRanges.measure(training_like())
    i = DENSE_INDEX["chars_per_word"]
    row = training_like(1, seed=1)[0]
    row[i] = ranges.high[i] + 0.9 * MARGIN * (ranges.high[i] - ranges.low[i])
    assert out_of_distribution(row, ranges) == ()
    row[i] = 50_000.0
    (found,) = out_of_distribution(row, ranges)
    assert found == OutOfRange("chars_per_word", 50_000.0, float(ranges.minimum[i]), float(ranges.maximum[i]))
    assert found.describe() == f"chars_per_word 50,000 vs at most {ranges.maximum[i]:.3g}"
    row[i] = -5.0
    assert out_of_distribution(row, ranges)[0].describe() == f"chars_per_word -5 vs at least {ranges.minimum[i]:.3g}"


def test_without_ranges_no_check_is_made():
    assert out_of_distribution(featurize(*ONE_LONG_WORD).dense, None) == ()


def test_ranges_survive_their_json_form_and_a_broken_one_is_refused():
    ranges = FeatureRanges.measure(training_like())
    again = FeatureRanges.from_dict(ranges.to_dict())
    assert again.questions == 1000 and np.allclose(again.upper, ranges.upper, atol=1e-3)
    broken = ranges.to_dict()
    del broken["features"]["links"]
    with pytest.raises(ValueError, match="min, q001, q999 and max for every dense feature"):
        FeatureRanges.from_dict(broken)


@pytest.mark.slow
@pytest.mark.data
def test_the_shipped_ranges_cover_every_training_question_of_the_real_data(tmp_path, real_dump_dirs):
    """Re-create the shipped model's training split (same dumps, same split) and check it against its ranges."""
    from mleditor.core.dataset import read_dataset
    from mleditor.core.ingest import ingest_dumps
    from mleditor.training.splits import SplitConfig, assign_splits

    model = resolve_model()
    ranges = model.dense_ranges
    assert ranges is not None and ranges.questions == model.meta["split_sizes"]["train"]
    dataset = tmp_path / "se.sqlite"
    ingest_dumps(real_dump_dirs, dataset)  # the data the shipped model was trained on: every dump, merged
    records = read_dataset(dataset)
    splits = assign_splits(records, SplitConfig(**model.meta["training"]["split"]))
    dense = np.stack([featurize(r.title, r.body).dense for r in records])
    measured = FeatureRanges.measure(dense[splits == "train"])
    assert np.array_equal(measured.maximum, ranges.maximum) and np.allclose(measured.high, ranges.high, atol=1e-4)
    flagged = [bool(out_of_distribution(row, ranges)) for row in dense]
    assert not any(np.array(flagged)[splits == "train"])
    assert sum(flagged) <= 0.005 * len(records)  # the unseen questions (val, test, held-out site) rarely are


def test_an_all_capitals_title_is_advice_not_an_unusual_input(shipped_pipeline):
    # Flags and ratios are bounded by the spec: v3 advises against capitals instead of doubting its score.
    result = shipped_pipeline.run(PredictRequest("HOW DO I KEEP MY ALE FROM GUSHING", "It gushes after two weeks "
                                                 "in the bottle. I prime with 120 g of sugar.", version="v3"))
    assert result.label != UNUSUAL_INPUT_LABEL and result.to_dict()["out_of_distribution"] == []
    assert result.prediction.out_of_distribution == ()
