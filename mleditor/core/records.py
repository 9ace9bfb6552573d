"""Records that cross module lines: a question as a user asks it, and a question as a dump stores it."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_QUESTION_ID = 2**63 - 1  # ids are signed 64-bit integers in every store; larger ones are refused where they enter


def user_author_key(site: str, owner_id: int) -> str:
    """The author key of a site's user (`site:user:<owner id>`): how federated training names a client."""
    return f"{site}:user:{owner_id}"


@dataclass(frozen=True)
class Question:
    """What a user submits: a title and a body (Markdown-flavoured text, see FEATURES.md)."""

    title: str
    body: str


@dataclass(frozen=True)
class HtmlSignals:
    """Structure counted in a post's HTML before it is turned into text."""

    code_blocks: int = 0
    links: int = 0
    images: int = 0
    list_items: int = 0
    paragraphs: int = 0


@dataclass(frozen=True)
class QuestionRecord:
    """One question from a Stack Exchange dump, with its body converted to Markdown-flavoured text."""

    site: str
    id: int
    title: str
    body: str
    score: int
    creation_date: str
    owner_id: int | None = None
    owner_name: str | None = None
    tags: tuple[str, ...] = ()
    answer_count: int = 0
    view_count: int | None = None
    accepted_answer_id: int | None = None
    closed_date: str | None = None
    signals: HtmlSignals = field(default_factory=HtmlSignals)

    @property
    def author_key(self) -> str:
        """Who wrote it, for author-disjoint splits: the user id, else the display name, else the post."""
        if self.owner_id is not None:
            return user_author_key(self.site, self.owner_id)
        if self.owner_name:
            return f"{self.site}:name:{self.owner_name}"
        return f"{self.site}:post:{self.id}"

    def as_question(self) -> Question:
        return Question(title=self.title, body=self.body)
