"""Labels and splits: site-year medians, author-disjoint splits, the held-out site."""

from __future__ import annotations

import numpy as np

from mleditor.core.records import QuestionRecord
from mleditor.training.splits import SplitConfig, assign_splits, label_questions


def record(site: str, id: int, score: int, year: str = "2015", owner: int | None = None) -> QuestionRecord:
    return QuestionRecord(site=site, id=id, title="t", body="b", score=score,
                          creation_date=f"{year}-01-01T00:00:00", owner_id=owner)


def test_label_is_strictly_above_the_site_median():
    records = [record("a", i, s) for i, s in enumerate([0, 1, 2, 3, 4])]
    assert label_questions(records, mode="site").tolist() == [0, 0, 0, 1, 1]


def test_site_year_label_compares_with_contemporaries():
    old = [record("a", i, 10 + i, "2011") for i in range(3)]
    new = [record("a", 10 + i, i, "2020") for i in range(3)]
    labels = label_questions(old + new, mode="site-year", min_group=3)
    assert labels.tolist() == [0, 0, 1, 0, 0, 1]


def test_small_site_year_groups_fall_back_to_the_site_median():
    # 2011 has 4 questions (median 2.5); 2020 has one, so it is compared with the site median (3).
    records = [record("a", i, s, "2011" if i < 4 else "2020") for i, s in enumerate([1, 2, 3, 4, 3])]
    assert label_questions(records, mode="site-year", min_group=3).tolist() == [0, 0, 1, 1, 0]


def test_no_author_is_in_two_splits_and_the_holdout_site_is_whole():
    records = [record("a" if i % 5 else "held", i, 0, owner=i % 37) for i in range(2000)]
    splits = assign_splits(records, SplitConfig(holdout_site="held"))
    owners: dict[str, set[str]] = {}
    for r, s in zip(records, splits):
        owners.setdefault(r.author_key, set()).add(s)
    assert all(len(v) == 1 for v in owners.values())
    assert set(splits[[r.site == "held" for r in records]]) == {"holdout"}


def test_split_fractions_are_roughly_respected():
    records = [record("a", i, 0, owner=i) for i in range(5000)]
    splits = assign_splits(records, SplitConfig(holdout_site=None))
    assert abs(np.mean(splits == "test") - 0.15) < 0.03
    assert abs(np.mean(splits == "val") - 0.15) < 0.03
