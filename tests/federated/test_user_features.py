"""Author-history features: only strictly earlier questions, at least the lag older, ever count."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mleditor.core.records import QuestionRecord
from mleditor.federated.user_features import AuthorHistory, author_feature_matrix, history_features

AT = datetime(2016, 6, 1, 12, 0)


def days_before(days: float, label: int) -> tuple[datetime, int]:
    return AT - timedelta(days=days), label


def test_count_mean_label_and_days_since_the_first_come_from_the_earlier_questions():
    history = history_features([days_before(40, 1), days_before(10, 0), days_before(2, 1)], AT)
    assert history == AuthorHistory(count=3, mean_label=pytest.approx(2 / 3), days_since_first=pytest.approx(40))


@pytest.mark.parametrize(("lag", "count", "mean"), [(0, 3, 2 / 3), (7, 2, 1 / 2), (30, 1, 1.0)])
def test_the_lag_excludes_earlier_questions_newer_than_it(lag, count, mean):
    history = history_features([days_before(40, 1), days_before(10, 0), days_before(2, 1)], AT, lag_days=lag)
    assert (history.count, history.mean_label) == (count, pytest.approx(mean))


def test_a_question_asked_at_the_request_time_or_later_never_counts():
    assert history_features([(AT, 1), days_before(-1, 1)], AT) == AuthorHistory()


def test_no_history_is_the_neutral_vector():
    assert AuthorHistory().as_vector().tolist() == [0.0, 0.0, 0.0]
    assert history_features([], AT, lag_days=30) == AuthorHistory()


def test_a_negative_lag_is_refused_in_one_line():
    with pytest.raises(ValueError, match=r"^user features lag_days=-1 is not valid; expected a number >= 0$"):
        history_features([], AT, lag_days=-1)


moments = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2017, 1, 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(moments, st.integers(0, 1)), max_size=30), moments, st.sampled_from([0, 7, 30]),
       st.lists(st.tuples(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
                          st.integers(0, 1)), max_size=10))
def test_no_feature_ever_uses_a_question_at_or_after_the_request_time(earlier, at, lag, later_offsets):
    later = [(at + offset, label) for offset, label in later_offsets]
    history = history_features(earlier + later, at, lag)
    assert history == history_features(earlier, at, lag)  # adding questions at or after `at` changes nothing
    used = [(d, y) for d, y in earlier if d < at and at - d >= timedelta(days=lag)]
    assert history.count == len(used)
    if used:
        assert history.mean_label == pytest.approx(sum(y for _, y in used) / len(used))
        assert history.days_since_first == pytest.approx((at - min(d for d, _ in used)).total_seconds() / 86400)


def record(qid: int, day: int, owner: int = 1) -> QuestionRecord:
    return QuestionRecord(site="beer", id=qid, title="t", body="b", score=0,
                          creation_date=(AT + timedelta(days=day)).isoformat(), owner_id=owner)


def test_a_questions_own_label_and_later_labels_never_change_its_features():
    records = [record(1, 0), record(2, 10), record(3, 40), record(4, 41, owner=2)]
    labels = np.array([1, 0, 1, 1])
    features = author_feature_matrix(records, labels)
    for flipped in range(4):
        changed = author_feature_matrix(records, np.where(np.arange(4) == flipped, 1 - labels, labels))
        unaffected = [i for i, r in enumerate(records) if r.owner_id != records[flipped].owner_id
                      or r.creation_date <= records[flipped].creation_date]
        assert np.array_equal(features[unaffected], changed[unaffected])
    assert features[0].tolist() == features[3].tolist() == [0.0, 0.0, 0.0]  # first question of each author
    assert features[2][0] == pytest.approx(np.log1p(2))


def test_the_matrix_applies_the_lag_per_question():
    records = [record(1, 0), record(2, 10), record(3, 40)]
    counts = author_feature_matrix(records, np.array([1, 0, 1]), lag_days=30)[:, 0]
    assert np.expm1(counts).round().tolist() == [0, 0, 2]
