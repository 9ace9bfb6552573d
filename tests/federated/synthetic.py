"""Synthetic authors for the federated tests: questions dealt round-robin, one date a day."""

from __future__ import annotations

from datetime import datetime, timedelta

from mleditor.core.records import QuestionRecord
from tests.helpers import make_questions


def authored(count: int, authors: int, *, seed: int = 3, lonely: bool = True) -> list[QuestionRecord]:
    """`count` questions, author k asking every `authors`-th one; with `lonely`, one more author with one question."""
    records = [QuestionRecord(site="beer", id=q["question_id"], title=q["title"], body=q["body"], score=(i * 7) % 5,
                              creation_date=(datetime(2015, 1, 1) + timedelta(days=i)).isoformat(timespec="seconds"),
                              owner_id=i % authors, owner_name=None)
               for i, q in enumerate(make_questions(count, seed=seed))]
    if lonely:
        records.append(QuestionRecord(site="beer", id=10_000, title="Lonely", body="Only one question here.",
                                      score=1, creation_date="2016-01-01T00:00:00", owner_id=999, owner_name=None))
    return records
