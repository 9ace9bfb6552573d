"""The chunk transform: same answers as the one-by-one pipeline, independent of chunking, rejects with reasons."""

from __future__ import annotations

import json

import pytest

from mleditor.batch.scoring import ChunkScorer, InputRow, prepare_row
from mleditor.core.predictor import Predictor
from mleditor.core.records import Question
from mleditor.core.stored import content_hash
from mleditor.core.validation import InputLimits, prepare_question
from mleditor.errors import InvalidInputError


@pytest.fixture(scope="module")
def scorer() -> ChunkScorer:
    return ChunkScorer.load(None, "v3")


def rows_from(questions: list[dict]) -> list[InputRow]:
    return [InputRow(q["site"], q["question_id"], q["title"], q["body"], ordinal=i) for i, q in enumerate(questions)]


@pytest.mark.parametrize("version", ["v2", "v3"])
def test_chunk_predictions_match_the_one_by_one_pipeline(questions, version):
    rows = rows_from(questions(40))
    result = ChunkScorer.load(None, version)(rows)
    predictor = Predictor.load(None)
    assert len(result.predictions) == 40 and not result.rejects
    for row, stored in zip(rows, result.predictions):
        expected = predictor.predict(prepare_question(row.title, row.body), version)
        assert stored.score == pytest.approx(expected.score, abs=1e-6)
        features = [r["feature"] for r in json.loads(stored.recommendations)]
        assert features == [r.feature for r in expected.recommendations]
        assert stored.model_id == expected.model_id and stored.model_version == version


def test_v3_best_gain_is_the_largest_recommendation_gain(scorer, questions):
    for stored in scorer(rows_from(questions(30))).predictions:
        gains = [r["gain"] for r in json.loads(stored.recommendations)]
        assert stored.best_gain == (max(gains) if gains else 0.0)


def test_scores_do_not_depend_on_how_rows_are_grouped_into_chunks(scorer, questions):
    rows = rows_from(questions(60))
    whole = scorer(rows).predictions
    pieces = [p for start in (0, 1, 8, 33) for p in scorer(rows[start:{0: 1, 1: 8, 8: 33, 33: 60}[start]]).predictions]
    assert [(p.question_id, p.score, p.recommendations) for p in whole] == \
           [(p.question_id, p.score, p.recommendations) for p in pieces]


def test_bad_rows_are_rejected_with_the_reason_and_the_rest_scored(scorer):
    rows = [
        InputRow("beer", 1, "Why is my beer flat?", "It has no bubbles after two weeks.", "f.csv line 2", 0),
        InputRow("beer", 2, "", "   ", "f.csv line 3", 1),
        InputRow("beer", 3, "t" * 301, "body", "f.csv line 4", 2),
        InputRow("beer", 4, "Title", "x" * 50_001, "f.csv line 5", 3),
        InputRow("beer", 5, "Bad \udcff bytes", "body", "f.csv line 6", 4),
    ]
    result = scorer(rows)
    assert [p.question_id for p in result.predictions] == [1]
    reasons = {r.question_id: r.reason for r in result.rejects}
    assert "both empty" in reasons[2]
    assert "title is 301 characters; the limit is 300" in reasons[3]
    assert "body is 50,001 characters; the limit is 50,000" in reasons[4]
    assert "not valid UTF-8" in reasons[5]
    assert {r.source for r in result.rejects} == {"f.csv line 3", "f.csv line 4", "f.csv line 5", "f.csv line 6"}
    assert [r.ordinal for r in result.rejects] == [1, 2, 3, 4]


def test_content_hash_ignores_what_normalization_removes_and_nothing_else():
    assert content_hash("Flat beer?", "Line one\r\nline two\n\n") == content_hash("  Flat beer?", "Line one\nline two")
    assert content_hash("Flat beer?", "a") != content_hash("Flat beer", "a")
    assert content_hash("ab", "c") != content_hash("a", "bc")


def test_a_request_and_a_batch_row_with_the_same_text_share_a_content_hash(scorer):
    question = prepare_question("Why flat?", "<p>No <code>CO2</code> at all</p>")
    row = InputRow("beer", 1, "Why flat?", "<p>No <code>CO2</code> at all</p>")
    assert prepare_row(row, InputLimits())[2] == content_hash(question.title, question.body)


def test_markdown_rows_from_dumps_are_not_converted_as_html_again(scorer):
    body = "Why does `<p>` break?\n\n```\n<div><p>x</p></div>\n```"
    as_markdown = InputRow("s", 1, "HTML question", body, markdown=True)
    _title, prepared, _ = prepare_row(as_markdown, InputLimits())
    assert prepared == body
    stored = scorer([as_markdown]).predictions[0]
    # A dump's body is already Markdown: score its features as they are (Predictor.predict would treat
    # the `<p>` inside the code as a user's HTML and convert it).
    expected = Predictor.load(None).predict(Question("HTML question", body), "v3", body_format="markdown")
    assert stored.score == pytest.approx(expected.score, abs=1e-6)


def test_prepare_row_rejects_non_text():
    with pytest.raises(InvalidInputError, match="title must be text"):
        prepare_row(InputRow("s", 1, 12, "body"), InputLimits())  # type: ignore[arg-type]


def test_content_hash_ignores_line_endings_and_unicode_forms_but_not_the_title_split():
    assert content_hash("Flat beer?", "Line one\r\nline two") == content_hash("Flat beer?", "Line one\nline two")
    assert content_hash("e\u0301", "ﬁ") == content_hash("é", "fi")
    assert content_hash("ab", "c") != content_hash("a", "bc")


class PoisonedPipeline:
    """A pipeline whose run_many fails as a whole (not per request) when a chunk holds the title "poison"."""

    def __init__(self, real, error: Exception) -> None:
        self.real, self.error = real, error

    def run_many(self, requests):
        if any(request.title == "poison" for request in requests):
            raise self.error
        return self.real.run_many(requests)


@pytest.mark.parametrize("error", [RuntimeError("boom\nsecond line"), RecursionError(), OverflowError("too big")])
def test_an_unexpected_error_on_one_row_rejects_that_row_and_scores_the_others(scorer, monkeypatch, error):
    monkeypatch.setattr(scorer, "pipeline", PoisonedPipeline(scorer.pipeline, error))
    rows = [InputRow("beer", 1, "Why is my beer flat?", "No bubbles.", "f.csv line 2", 0),
            InputRow("beer", 2, "poison", "body", "f.csv line 3", 1),
            InputRow("beer", 3, "How long to bottle?", "Two weeks?", "f.csv line 4", 2)]
    result = scorer(rows)
    assert [p.question_id for p in result.predictions] == [1, 3]
    [reject] = result.rejects
    assert (reject.question_id, reject.source, reject.ordinal) == (2, "f.csv line 3", 1)
    assert reject.reason.startswith(f"could not be scored ({type(error).__name__}") and "\n" not in reject.reason


def test_a_row_whose_prediction_cannot_be_recorded_is_a_reject(scorer, monkeypatch):
    from mleditor.batch import scoring

    real = scoring.prediction_record

    def failing_for_question_2(site, question_id, *args, **kwargs):
        if question_id == 2:
            raise ValueError("cannot record")
        return real(site, question_id, *args, **kwargs)

    monkeypatch.setattr(scoring, "prediction_record", failing_for_question_2)
    result = scorer([InputRow("beer", 1, "Flat?", "No bubbles."), InputRow("beer", 2, "Cloudy?", "Very.")])
    assert [p.question_id for p in result.predictions] == [1]
    assert [r.reason for r in result.rejects] == ["could not be scored (ValueError: cannot record)"]
