"""The README's "Which door?" section is what `mleditor advise` renders from the recorded advice (no timing needed)."""

from __future__ import annotations

import json

from mleditor.advise.markdown import RECORDED, render_markdown
from tests.advise.test_recommend import check_schema
from tests.helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def which_door_section() -> str:
    start = README.index("## Which door?\n") + len("## Which door?\n")
    return README[start:README.index("\n## ", start)].strip("\n") + "\n"


def test_the_recorded_advice_is_a_complete_advice():
    check_schema(json.loads((REPO_ROOT / RECORDED).read_text(encoding="utf-8")))


def test_the_which_door_section_is_the_markdown_of_the_recorded_advice():
    advice = json.loads((REPO_ROOT / RECORDED).read_text(encoding="utf-8"))
    assert which_door_section() == render_markdown(advice)


def test_the_command_table_lists_advise():
    assert "| `mleditor advise" in README
