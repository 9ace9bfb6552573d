"""API keys in the account store: hashed, scoped per model version, revocable; anonymous mode."""

from __future__ import annotations

import sqlite3

import pytest

from mleditor.errors import AuthenticationError, InvalidInputError, PermissionDeniedError
from mleditor.stores.keys import ApiKeyAuthorizer, create_api_key, list_api_keys, revoke_api_key


def denied(authorizer: ApiKeyAuthorizer, key: str | None, version: str) -> int:
    """The HTTP status the refusal means: 401 for an AuthenticationError, 403 for other refused permissions."""
    with pytest.raises(PermissionDeniedError) as info:
        authorizer.authorize(key, version)
    return 401 if isinstance(info.value, AuthenticationError) else 403


def test_a_key_may_call_the_versions_in_its_scopes_and_gets_403_for_the_others(accounts):
    key = create_api_key(accounts, "demo", "v1,v2")
    authorizer = ApiKeyAuthorizer(accounts, anonymous_enabled=False)
    assert authorizer.authorize(key, "v1").scopes == {"v1", "v2"}
    assert authorizer.authorize(key, "v2").name == key.split("_")[1]
    assert denied(authorizer, key, "v3") == 403


def test_missing_wrong_malformed_and_revoked_keys_get_401(accounts):
    key = create_api_key(accounts, "demo", ["v1"])
    authorizer = ApiKeyAuthorizer(accounts, anonymous_enabled=False)
    assert denied(authorizer, None, "v1") == 401
    assert denied(authorizer, key[:-2] + "xx", "v1") == 401
    assert denied(authorizer, "not-a-key", "v1") == 401
    assert denied(authorizer, "mle_000000000000_secret", "v1") == 401
    revoke_api_key(accounts, key.split("_")[1])
    assert denied(authorizer, key, "v1") == 401


def test_anonymous_callers_get_the_anonymous_scopes_but_a_wrong_key_is_still_refused(accounts):
    authorizer = ApiKeyAuthorizer(accounts, anonymous_enabled=True, anonymous_scopes=("v1", "v2"))
    assert authorizer.authorize(None, "v2").name == "anonymous"
    assert denied(authorizer, None, "v3") == 401  # a key would help: authenticate
    assert denied(authorizer, "mle_abc_wrong", "v1") == 401


def test_only_a_hash_of_the_secret_is_stored_and_the_list_shows_no_secret(accounts, tmp_path):
    key = create_api_key(accounts, "demo", "v3")
    secret = key.split("_", 2)[2]
    raw = sqlite3.connect(tmp_path / "keys.db").execute("SELECT * FROM api_keys").fetchall()
    assert secret not in repr(raw) and key not in repr(raw)
    [info] = list_api_keys(accounts)
    assert (info.name, info.scopes, info.revoked) == ("demo", ("v3",), None)
    assert secret not in repr(info)


def test_keys_with_unknown_scopes_no_name_or_revoking_twice_are_refused(accounts):
    with pytest.raises(InvalidInputError, match="v7"):
        create_api_key(accounts, "demo", "v1,v7")
    with pytest.raises(InvalidInputError, match="name"):
        create_api_key(accounts, " ", "v1")
    key_id = create_api_key(accounts, "demo", "v1").split("_")[1]
    revoke_api_key(accounts, key_id)
    with pytest.raises(InvalidInputError, match="no active key"):
        revoke_api_key(accounts, key_id)
