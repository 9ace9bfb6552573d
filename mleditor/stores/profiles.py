"""User profiles from the store: the pipeline's gather step (step 2) reads them; a missing one is normal."""

from __future__ import annotations

import math

from mleditor.core.access import UserProfile
from mleditor.core.records import MAX_QUESTION_ID
from mleditor.core.validation import check_version
from mleditor.errors import InvalidInputError
from mleditor.stores.accounts import AccountStore


class SqliteProfiles:
    """The core `ProfileSource` backed by the store's profiles table."""

    def __init__(self, store: AccountStore) -> None:
        self.store = store

    def get_profile(self, user_id: str) -> UserProfile | None:
        """The user's profile, or None when the store has none."""
        rows = self.store.query(
            "SELECT questions_asked, median_score, preferred_version, site, owner_id FROM profiles WHERE user_id = ?",
            (user_id,)
        )
        if not rows:
            return None
        questions, median, preferred, site, owner_id = rows[0]
        return UserProfile(user_id, int(questions), None if median is None else float(median), preferred,
                           site=site, owner_id=None if owner_id is None else int(owner_id))


def upsert_profile(store: AccountStore, user_id: str, questions_asked: int = 0, median_score: float | None = None,
                   preferred_version: str | None = None, *, site: str | None = None,
                   owner_id: int | None = None) -> UserProfile:
    """Create or replace a user's profile; InvalidInputError for values that make no sense.

    `site` and `owner_id` (the user's account on that site) go together: they name the author whose
    personal model part scores the user's questions.
    """
    if not user_id.strip():
        raise InvalidInputError("a profile needs a user id")
    if questions_asked < 0:
        raise InvalidInputError(f"questions asked is {questions_asked}; it must be 0 or more")
    if median_score is not None and not math.isfinite(median_score):
        raise InvalidInputError(f"median score {median_score} is not a number; give a finite value or none")
    if preferred_version is not None:
        check_version(preferred_version, "preferred version")
    if (site is None) != (owner_id is None) or (site is not None and not site.strip()):
        raise InvalidInputError("a profile's site and owner id go together: give both (a site name and the "
                                "user's id on it) or neither")
    if owner_id is not None and not 0 <= owner_id <= MAX_QUESTION_ID:
        raise InvalidInputError(f"owner id {owner_id} is out of range; it must be from 0 to {MAX_QUESTION_ID}")
    store.execute(
        "INSERT INTO profiles (user_id, questions_asked, median_score, preferred_version, site, owner_id) "
        "VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(user_id) DO UPDATE SET questions_asked = excluded.questions_asked, "
        "median_score = excluded.median_score, preferred_version = excluded.preferred_version, "
        "site = excluded.site, owner_id = excluded.owner_id",
        (user_id, questions_asked, median_score, preferred_version, site, owner_id),
    )
    return UserProfile(user_id, questions_asked, median_score, preferred_version, site=site, owner_id=owner_id)
