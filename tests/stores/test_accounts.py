"""The account store: answers ping while open, and says so once closed."""

from __future__ import annotations

import pytest


def test_the_store_answers_ping_until_it_is_closed(accounts):
    accounts.ping()
    accounts.close()
    with pytest.raises(Exception, match="does not answer"):
        accounts.ping()
