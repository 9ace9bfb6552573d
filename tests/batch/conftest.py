"""Fixtures for the batch tests (the stores, questions and CSV files are shared ones, in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.helpers import execute_sql


@pytest.fixture
def run_sql():
    """execute_sql(store, sql, rows=None) through the store's own connection."""
    return execute_sql
