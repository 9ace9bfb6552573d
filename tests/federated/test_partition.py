"""Authors split over time: earlier questions train, later ones are held out, hashed authors never train."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mleditor.core.ingest import iter_dump_questions
from mleditor.core.records import QuestionRecord
from mleditor.federated.partition import (
    PartitionConfig,
    author_counts,
    heldout_count,
    history_bucket,
    partition_authors,
)
from mleditor.training.splits import label_questions

START = datetime(2015, 1, 1)


def record(owner: int | None, day: int, qid: int, score: int = 0, site: str = "beer") -> QuestionRecord:
    date = (START + timedelta(days=day)).isoformat(timespec="milliseconds")
    return QuestionRecord(site=site, id=qid, title="t", body="b", score=score, creation_date=date, owner_id=owner,
                          owner_name=None if owner is not None else "anon")


def authors_with(sizes: list[int]) -> list[QuestionRecord]:
    """Author k has sizes[k] questions, one every few days, listed newest first to prove order comes from dates."""
    out = [record(owner, day=3 * n + owner, qid=1000 * owner + n, score=(n * 7 + owner) % 5)
           for owner, size in enumerate(sizes) for n in range(size)]
    return out[::-1]


def by_role(partition, role: str) -> dict[str, list[QuestionRecord]]:
    found: dict[str, list[QuestionRecord]] = {}
    for i in np.flatnonzero(partition.mask(role)):
        found.setdefault(str(partition.authors[i]), []).append(partition.records[i])
    return found


def test_the_same_records_and_seed_give_the_same_partition_and_another_seed_other_unseen_authors():
    records = authors_with([1 + k % 12 for k in range(200)])
    first, again = partition_authors(records), partition_authors(records)
    other = partition_authors(records, PartitionConfig(seed=1))
    assert first.roles.tolist() == again.roles.tolist()
    assert first.authors.tolist() == again.authors.tolist()
    assert set(first.authors[first.mask("unseen")]) != set(other.authors[other.mask("unseen")])


def test_no_heldout_question_is_older_than_any_of_its_authors_training_questions():
    partition = partition_authors(authors_with([2 + k % 15 for k in range(120)]))
    train, heldout = by_role(partition, "train"), by_role(partition, "heldout")
    assert heldout
    for author, held in heldout.items():
        assert min(r.creation_date for r in held) >= max(r.creation_date for r in train[author])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 40)), min_size=1, max_size=60))
def test_for_any_dates_heldout_questions_are_never_before_the_same_authors_training_questions(rows):
    records = [record(owner, day, qid) for qid, (owner, day) in enumerate(rows)]
    partition = partition_authors(records, PartitionConfig(unseen_fraction=0.0))
    train = by_role(partition, "train")
    for author, held in by_role(partition, "heldout").items():
        assert min(r.creation_date for r in held) >= max(r.creation_date for r in train[author])


def test_every_author_with_two_or_more_questions_holds_out_at_least_one_and_trains_on_at_least_one():
    sizes = [2 + k % 20 for k in range(60)]
    partition = partition_authors(authors_with(sizes), PartitionConfig(unseen_fraction=0.0))
    train, heldout = by_role(partition, "train"), by_role(partition, "heldout")
    assert len(train) == len(heldout) == len(sizes)
    for author in train:
        n = len(train[author]) + len(heldout[author])
        assert len(heldout[author]) == heldout_count(n, 0.3) >= 1


def test_an_author_with_one_question_trains_on_it_and_holds_nothing_out():
    partition = partition_authors([record(7, day=0, qid=1)], PartitionConfig(unseen_fraction=0.0))
    assert partition.roles.tolist() == ["train"]
    assert partition.history.tolist() == [1]


def test_the_last_30_percent_are_held_out_at_least_one_never_all():
    assert [heldout_count(n, 0.3) for n in (0, 1, 2, 3, 4, 6, 7, 10, 20, 112)] == [0, 0, 1, 1, 1, 1, 2, 3, 6, 33]


def test_history_buckets_are_1_2_to_4_5_to_9_and_10_or_more_earlier_questions():
    assert [history_bucket(n) for n in (0, 1, 2, 4, 5, 9, 10, 80)] == ["", "1", "2-4", "2-4", "5-9", "5-9", "10+", "10+"]


def test_unseen_authors_never_train_and_are_about_the_hashed_fraction():
    partition = partition_authors(authors_with([3] * 400), PartitionConfig(unseen_fraction=0.25))
    unseen = set(partition.authors[partition.mask("unseen")])
    assert unseen.isdisjoint(partition.authors[~partition.mask("unseen")])
    assert 0.18 < len(unseen) / 400 < 0.32
    assert not partition.history[partition.mask("unseen")].any()


def test_questions_without_an_owner_id_belong_to_no_client():
    records = [*authors_with([3]), record(None, day=1, qid=99)]
    partition = partition_authors(records)
    assert 99 not in [r.id for r in partition.records]
    assert len(partition.records) == 3


def test_labels_are_the_projects_labels_over_all_records():
    records = [*authors_with([4, 6, 1]), record(None, day=2, qid=99, score=9)]
    partition = partition_authors(records)
    expected = dict(zip([r.id for r in records], label_questions(records).tolist()))
    assert partition.labels.tolist() == [expected[r.id] for r in partition.records]


def test_clients_are_the_training_authors_with_their_training_rows():
    partition = partition_authors(authors_with([1, 2, 5]), PartitionConfig(unseen_fraction=0.0))
    clients = partition.clients()
    assert {author: len(rows) for author, rows in clients.items()} == {"beer:user:0": 1, "beer:user:1": 1,
                                                                      "beer:user:2": 4}
    assert all((partition.roles[rows] == "train").all() for rows in clients.values())


@pytest.mark.parametrize("field", ["heldout_fraction", "unseen_fraction"])
def test_a_fraction_outside_0_1_is_refused_in_one_line(field):
    with pytest.raises(ValueError, match=rf"^partition {field}=1.5 is not valid; expected a number in \[0, 1\)$"):
        PartitionConfig(**{field: 1.5})


@pytest.mark.data
def test_the_real_data_has_the_authors_the_issue_counts_and_splits_them_by_time(real_data_dir: Path):
    records = [r for site in sorted(real_data_dir.iterdir()) if site.is_dir()
               for r in iter_dump_questions(site, on_warning=lambda _: None)]
    assert author_counts(records) == {">=1": 1563, ">=2": 542, ">=5": 163, ">=10": 56, "largest": 112}
    sizes = Counter(r.author_key for r in records if r.owner_id is not None)
    share = {k: sum(n for n in sizes.values() if n >= k) / len(records) for k in (2, 5, 10)}
    assert {k: round(v, 2) for k, v in share.items()} == {2: 0.71, 5: 0.46, 10: 0.28}
    partition = partition_authors(records)
    assert partition.roles.tolist() == partition_authors(records).roles.tolist()
    assert Counter(partition.roles.tolist()) == {"train": 2412, "heldout": 694, "unseen": 610}
    assert len(set(partition.authors[partition.mask("unseen")])) == 252 and len(partition.clients()) == 1311
    held = partition.mask("heldout")
    assert Counter(partition.buckets[held].tolist()) == {"1": 195, "2-4": 156, "5-9": 150, "10+": 193}
    assert len(partition.records) == 3716  # the 75 questions with a display name only belong to no client
    seen = {a for a, r in zip(partition.authors, partition.roles) if r != "unseen"}
    assert {a for a in seen if sizes[a] >= 2} == set(partition.authors[partition.mask("heldout")])
