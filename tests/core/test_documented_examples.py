"""The examples in the docstrings of what others implement or configure run as written."""

from __future__ import annotations

import re
import textwrap

import pytest

from mleditor.core import hooks, personal, pipeline, runners
from mleditor.hybrid import service as hybrid_service
from mleditor.stores.predictions import base as store_base


def examples(doc: str) -> list[str]:
    """The indented blocks after `Example...::` lines."""
    found = []
    for match in re.finditer(r"Example[^\n]*::\n\n((?:[ \t]+[^\n]*\n|\n)+)", doc):
        found.append(textwrap.dedent(match.group(1)))
    return found


@pytest.mark.parametrize("owner", [pipeline.Pipeline, hooks, runners, store_base.PredictionStore,
                                   personal.PersonalScorer],
                         ids=["Pipeline", "hooks", "runners", "PredictionStore", "PersonalScorer"])
def test_the_example_runs(owner):
    blocks = examples(owner.__doc__ or "")
    assert blocks, f"{owner} has no example"
    for block in blocks:
        exec(compile(block, f"<example of {owner}>", "exec"), {})


def test_the_hybrid_service_documents_how_it_is_composed():
    assert "live.use" in (hybrid_service.__doc__ or "") and "StoreLookup.open" in (hybrid_service.__doc__ or "")
