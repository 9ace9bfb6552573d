"""Recommendations: v1 rules fire on their thresholds; v3 keeps only edits the model scores higher."""

from __future__ import annotations

import numpy as np

from mleditor.core.features import DENSE_FEATURES, DENSE_INDEX, featurize
from mleditor.core.recommend import (
    ACTIONABLE_FEATURES,
    MAX_RECOMMENDATIONS,
    counterfactual,
    counterfactual_batch,
    model_recommendations,
    rule_recommendations,
    rule_score,
)


def test_title_without_question_mark_gets_the_question_mark_rule():
    recs = rule_recommendations(featurize("Brewing with hops", "Some text here.").dense_dict())
    assert any(r.feature == "title_has_question_mark" for r in recs)
    assert "question mark" in recs[0].message


def test_a_well_written_question_passes_the_length_rules():
    body = " ".join(["We brew a pale ale at home with a simple recipe and measure the gravity."] * 8)
    recs = rule_recommendations(featurize("How do I keep my pale ale clear?", body).dense_dict())
    assert not any(r.feature in ("title_has_question_mark", "body_words", "words_per_sentence") for r in recs)


def test_long_sentences_are_reported_with_current_and_typical_values():
    body = " ".join(["word"] * 40) + "."
    rec = next(r for r in rule_recommendations(featurize("Why?", body).dense_dict()) if r.feature == "words_per_sentence")
    assert rec.current == 40 and rec.typical == 17
    assert "40 words on average" in rec.message


def test_rule_score_uses_the_calibration_table_and_caps_the_count():
    assert rule_score(0, [0.7, 0.5, 0.2]) == 0.7
    assert rule_score(9, [0.7, 0.5, 0.2]) == 0.2


def test_counterfactual_sentence_length_keeps_flesch_consistent():
    dense = featurize("t", " ".join(["simple"] * 60) + ".").dense
    moved = counterfactual(dense, "words_per_sentence", 15.0)
    assert moved[DENSE_INDEX["words_per_sentence"]] == 15.0
    assert moved[DENSE_INDEX["flesch_reading_ease"]] > dense[DENSE_INDEX["flesch_reading_ease"]]
    assert moved[DENSE_INDEX["body_sentences"]] == 4


def test_counterfactual_batch_has_one_row_per_differing_actionable_feature():
    dense = featurize("Question", "Body text.").dense
    typical = {name: float(dense[DENSE_INDEX[name]]) for name in DENSE_FEATURES}
    typical["title_has_question_mark"] = 1.0
    names, rows = counterfactual_batch(dense, typical)
    assert names == ["title_has_question_mark"]
    assert rows.shape == (2, len(DENSE_FEATURES))
    assert np.array_equal(rows[0], dense)


def test_model_recommendations_keep_positive_gains_best_first():
    dense = featurize("t", "b").dense
    typical = dict.fromkeys(DENSE_FEATURES, 0.0)
    names = list(ACTIONABLE_FEATURES[:8])
    scores = np.array([0.5, 0.52, 0.49, 0.6, 0.501, 0.55, 0.51, 0.58, 0.53])
    recs = model_recommendations(dense, typical, scores, names)
    assert [r.gain for r in recs] == sorted([r.gain for r in recs], reverse=True)
    assert len(recs) == MAX_RECOMMENDATIONS
    assert all(r.gain >= 0.005 for r in recs)
    assert recs[0].feature == names[2]
