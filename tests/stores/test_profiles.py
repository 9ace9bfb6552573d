"""User profiles in the account store: read back as the pipeline's UserProfile, versions checked."""

from __future__ import annotations

import pytest

from mleditor.core.pipeline import UserProfile
from mleditor.errors import InvalidInputError
from mleditor.stores.profiles import SqliteProfiles, upsert_profile


def test_a_missing_profile_is_none_and_an_upserted_one_is_read_back(accounts):
    profiles = SqliteProfiles(accounts)
    assert profiles.get_profile("nobody") is None
    upsert_profile(accounts, "42", questions_asked=3, median_score=1.5, preferred_version="v2")
    upsert_profile(accounts, "42", questions_asked=4, median_score=2.0, preferred_version="v3")
    assert profiles.get_profile("42") == UserProfile("42", 4, 2.0, "v3")
    with pytest.raises(InvalidInputError, match="preferred version"):
        upsert_profile(accounts, "42", preferred_version="v9")
