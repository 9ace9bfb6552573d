"""Fixtures for the store tests (the prediction stores, one per backend, are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleditor.stores.accounts import AccountStore


@pytest.fixture
def accounts(tmp_path: Path) -> AccountStore:
    """The account store (API keys, profiles) in a temporary SQLite file, keys.db."""
    return AccountStore(tmp_path / "keys.db")
