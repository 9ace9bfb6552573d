"""API keys with scopes per model version, stored hashed, and the authorizer that checks them.

A key reads `mle_<key_id>_<secret>`. The store keeps the key id, a name, the SHA-256 of the
secret and its scopes: the model versions the key may call, and `ops` (OPS_SCOPE) for the
operator endpoints (/metrics, /docs, /openapi.json) when those are closed. The plaintext is shown
once, at creation. The secret is random (256 bits), so a plain hash is enough; no salt or slow
hash is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from mleditor.core.access import Caller
from mleditor.core.registry import MODEL_VERSIONS
from mleditor.errors import AuthenticationError, InvalidInputError, PermissionDeniedError
from mleditor.stores.accounts import AccountStore

KEY_PREFIX = "mle_"
ANONYMOUS = "anonymous"
OPS_SCOPE = "ops"  # the operator endpoints; never a model version, never given to anonymous callers
KEY_SCOPES = (*MODEL_VERSIONS, OPS_SCOPE)  # what a key may hold
OPERATOR_ENDPOINTS = "/metrics, /docs and /openapi.json"


@dataclass(frozen=True)
class ApiKeyInfo:
    """What `keys list` shows about a key (never the secret or its hash)."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created: str
    revoked: str | None


def parse_scopes(scopes: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Scopes from "v1,v2,ops" or a sequence (model versions and `ops`); InvalidInputError naming an unknown one."""
    items = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    result = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    unknown = [item for item in result if item not in KEY_SCOPES]
    if unknown or not result:
        raise InvalidInputError(
            f"scopes {','.join(unknown) or '(none)'} not valid; give model versions among {', '.join(MODEL_VERSIONS)}"
            f", or {OPS_SCOPE} for the operator endpoints"
        )
    return result


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_api_key(store: AccountStore, name: str, scopes: str | tuple[str, ...] | list[str]) -> str:
    """Create a key that may call `scopes`; return the plaintext key (the only time it exists)."""
    if not name.strip():
        raise InvalidInputError("a key needs a name (who or what uses it), e.g. --name demo-app")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    store.execute(
        "INSERT INTO api_keys (key_id, name, key_hash, scopes, created) VALUES (?, ?, ?, ?, ?)",
        (key_id, name.strip(), _hash_secret(secret), ",".join(parse_scopes(scopes)), created),
    )
    return f"{KEY_PREFIX}{key_id}_{secret}"


def revoke_api_key(store: AccountStore, key_id: str) -> None:
    """Revoke a key at once; InvalidInputError when there is no such active key."""
    revoked = datetime.now(UTC).isoformat(timespec="seconds")
    changed = store.execute("UPDATE api_keys SET revoked = ? WHERE key_id = ? AND revoked IS NULL", (revoked, key_id))
    if not changed:
        raise InvalidInputError(f"no active key with id {key_id!r}; `mleditor keys list` shows the keys")


def list_api_keys(store: AccountStore) -> list[ApiKeyInfo]:
    """Every key, oldest first, without secrets."""
    rows = store.query("SELECT key_id, name, scopes, created, revoked FROM api_keys ORDER BY created, key_id")
    return [ApiKeyInfo(key_id, name, tuple(scopes.split(",")), created, revoked)
            for key_id, name, scopes, created, revoked in rows]


class ApiKeyAuthorizer:
    """The core `Authorizer` for the server: API keys from the store, plus an optional anonymous mode."""

    def __init__(self, store: AccountStore, anonymous_enabled: bool = True,
                 anonymous_scopes: tuple[str, ...] = MODEL_VERSIONS) -> None:
        self.store = store
        self.anonymous_enabled = anonymous_enabled
        self.anonymous_scopes = frozenset(anonymous_scopes)

    def authorize(self, api_key: str | None, version: str) -> Caller:
        """The caller for `api_key` (None = anonymous); AuthenticationError or PermissionDeniedError otherwise."""
        if api_key is None:
            return self._anonymous(version)
        caller = self._lookup(api_key)
        if version == OPS_SCOPE and OPS_SCOPE not in caller.scopes:
            raise PermissionDeniedError(f"this API key may not read {OPERATOR_ENDPOINTS}; use a key with the "
                                        f"{OPS_SCOPE} scope (mleditor keys create --scopes {OPS_SCOPE})")
        if version not in caller.scopes:
            raise PermissionDeniedError(
                f"this API key may call {', '.join(sorted(caller.scopes))}, not {version}; "
                "ask for a key with that scope"
            )
        return caller

    def _anonymous(self, version: str) -> Caller:
        if version == OPS_SCOPE:
            raise AuthenticationError(f"{OPERATOR_ENDPOINTS} need an API key with the {OPS_SCOPE} scope: send "
                                      "'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
        if not self.anonymous_enabled:
            raise AuthenticationError(
                "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
            )
        if version not in self.anonymous_scopes:
            raise AuthenticationError(
                f"{version} needs an API key; without one you may call {', '.join(sorted(self.anonymous_scopes))}"
            )
        return Caller(ANONYMOUS, self.anonymous_scopes)

    def _lookup(self, api_key: str) -> Caller:
        unknown = AuthenticationError("the API key is not valid (unknown, revoked or mistyped)")
        key_id, _, secret = api_key.removeprefix(KEY_PREFIX).partition("_")
        if not api_key.startswith(KEY_PREFIX) or not key_id or not secret:
            raise unknown
        rows = self.store.query("SELECT key_hash, scopes, revoked FROM api_keys WHERE key_id = ?", (key_id,))
        if not rows:
            raise unknown
        key_hash, scopes, revoked = rows[0]
        if not hmac.compare_digest(key_hash, _hash_secret(secret)) or revoked is not None:
            raise unknown
        return Caller(key_id, frozenset(scopes.split(",")))
