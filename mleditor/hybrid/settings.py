"""The hybrid door's settings: one frozen object, read from a TOML file's `[hybrid]` table, then the environment.

Precedence, lowest first: the defaults below, the file (`--config FILE`, `$MLEDITOR_HYBRID_CONFIG`
or the shared `$MLEDITOR_CONFIG`), then `MLEDITOR_HYBRID_<FIELD>` variables; loading is
`mleditor.config.load_settings`, shared by every door. Importing this module reads nothing and
imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from mleditor import config
from mleditor.config import Check, check_settings, more_than

SECTION = "hybrid"
ENV_PREFIX = config.env_prefix(SECTION)  # MLEDITOR_HYBRID_


@dataclass(frozen=True)
class HybridSettings:
    """How the hybrid door answers: the stored prediction when it is there and fresh, else live.

    Build it directly or with `load_settings`, which reads the `[hybrid]` table of a TOML file and
    `MLEDITOR_HYBRID_<FIELD>` variables over these defaults; bad values are refused when it is made.

    Parameters:
        store: prediction store URL (sqlite:///file.db or postgresql://user:pw@host/db) holding
            the batch door's predictions; None turns the hybrid door off (live answers only).
        ttl_s: a stored prediction older than this many seconds is recomputed live; more than 0.
        lookup_timeout_s: how long a request waits for the store before it is answered live;
            more than 0 seconds.

    Example:
        >>> from mleditor.hybrid.settings import HybridSettings, load_settings
        >>> s = load_settings(environ={"MLEDITOR_HYBRID_STORE": "sqlite:///predictions.db",
        ...                            "MLEDITOR_HYBRID_TTL_S": "3600"})
        >>> s.store, s.ttl_s, s.lookup_timeout_s
        ('sqlite:///predictions.db', 3600.0, 0.5)
        >>> HybridSettings(lookup_timeout_s=0)
        Traceback (most recent call last):
        ...
        mleditor.errors.InvalidInputError: hybrid lookup_timeout_s=0 is not valid; expected more than 0 seconds
    """

    store: str | None = None
    ttl_s: float = 7 * 24 * 3600.0
    lookup_timeout_s: float = 0.5

    checks: ClassVar[Mapping[str, Check]] = {
        "ttl_s": more_than(0, "more than 0 seconds"),
        "lookup_timeout_s": more_than(0, "more than 0 seconds"),
    }

    def __post_init__(self) -> None:
        check_settings(self, SECTION, self.checks)


def load_settings(path: Path | str | None = None, environ: Mapping[str, str] | None = None) -> HybridSettings:
    """Defaults, then the `[hybrid]` table of the TOML file `path` (or $MLEDITOR_HYBRID_CONFIG,
    $MLEDITOR_CONFIG), then env vars."""
    return config.load_settings(HybridSettings, SECTION, path, environ)


def settings_to_env(settings: HybridSettings) -> dict[str, str]:
    """The settings as `MLEDITOR_HYBRID_*` variables (for worker processes)."""
    return config.settings_to_env(settings, SECTION)
