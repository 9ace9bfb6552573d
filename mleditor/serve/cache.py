"""An LRU cache of results for repeated questions, keyed by model and normalized text.

The key hashes the text after the featurizer's own normalization (FEATURES.md §2), so inputs that
differ only in ways the model cannot see (trailing spaces, CRLF line ends, NFKC variants) share an
entry. All calls happen on one event loop, so no lock is needed.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from mleditor.core.stored import content_hash

CacheKey = tuple[str, str, str, str]
V = TypeVar("V")


def cache_key(model_id: str, version: str, title: str, body: str, personal: str = "") -> CacheKey:
    """(model id, version, content hash of the normalized title and body, the author's personal part or "")."""
    return model_id, version, content_hash(title, body), personal


class PredictionCache(Generic[V]):
    """At most `max_entries` values, least recently used evicted first; 0 entries turns it off."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be 0 (off) or more; got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey) -> V | None:
        """The value for `key` (now the most recently used), or None; counts a hit or a miss."""
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: CacheKey, value: V) -> None:
        """Store `value` as the most recently used entry, evicting the least recently used past the limit."""
        if self.max_entries == 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    @property
    def hit_rate(self) -> float:
        """Hits over lookups so far (0.0 before the first lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def __len__(self) -> int:
        return len(self._entries)
