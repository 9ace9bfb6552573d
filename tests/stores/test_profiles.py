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


def test_a_profile_with_a_site_and_owner_id_names_its_author_and_needs_both(accounts):
    upsert_profile(accounts, "alice", site="beer", owner_id=7)
    assert SqliteProfiles(accounts).get_profile("alice").author == "beer:user:7"
    assert SqliteProfiles(accounts).get_profile("alice").questions_asked == 0
    with pytest.raises(InvalidInputError, match="site and owner id go together"):
        upsert_profile(accounts, "bob", site="beer")


def test_an_accounts_file_from_before_authors_gains_the_columns_and_keeps_its_profiles(tmp_path):
    import sqlite3

    from mleditor.stores.accounts import AccountStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE profiles (user_id TEXT PRIMARY KEY, questions_asked INTEGER NOT NULL DEFAULT 0, "
                    "median_score REAL, preferred_version TEXT)")
        old.execute("INSERT INTO profiles VALUES ('42', 3, 1.5, 'v2')")
    profile = SqliteProfiles(AccountStore(path)).get_profile("42")
    assert profile == UserProfile("42", 3, 1.5, "v2") and profile.author is None
