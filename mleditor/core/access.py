"""Who is asking: the caller a request's credentials name, and the profile the gather step finds for a user.

Both come in through small protocols, so the core never imports a door or a store: the serve door
passes `ApiKeyAuthorizer` and `SqliteProfiles` (`mleditor.stores`), local doors pass `AllowLocal`
and `NoProfiles`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from mleditor.core.records import user_author_key
from mleditor.core.registry import MODEL_VERSIONS


@dataclass(frozen=True)
class Caller:
    """Who is asking, and which model versions they may call."""

    name: str
    scopes: frozenset[str]


class Authorizer(Protocol):
    """Step 1's permission check."""

    def authorize(self, api_key: str | None, version: str) -> Caller:
        """The caller; AuthenticationError for missing or unknown credentials, PermissionDeniedError out of scope."""
        ...


class AllowLocal:
    """The authorizer for local use (CLI, batch): everyone may call every version."""

    def authorize(self, api_key: str | None, version: str) -> Caller:
        return Caller("local", frozenset(MODEL_VERSIONS))


@dataclass(frozen=True)
class UserProfile:
    """What the store knows about a user; gathered, not sent by the client.

    `site` and `owner_id` name the user's Stack Exchange account, so the gather step can find the
    author's personal model part (`author`); either missing: the global model answers.
    """

    user_id: str
    questions_asked: int = 0
    median_score: float | None = None
    preferred_version: str | None = None
    site: str | None = None
    owner_id: int | None = None

    @property
    def author(self) -> str | None:
        """The author key (`site:user:<owner id>`, as federated training names clients), or None."""
        return None if self.site is None or self.owner_id is None else user_author_key(self.site, self.owner_id)


class ProfileSource(Protocol):
    """Step 2's source of what a request does not carry."""

    def get_profile(self, user_id: str) -> UserProfile | None:
        """The user's profile, or None when there is none (which is normal)."""
        ...


class NoProfiles:
    """The profile source for local use: nobody has a profile."""

    def get_profile(self, user_id: str) -> UserProfile | None:
        return None
