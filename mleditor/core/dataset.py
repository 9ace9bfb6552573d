"""The dataset file: one SQLite file holding every ingested question and where each came from.

Tables: `questions` (one row per question, primary key (site, id); tags as a JSON array;
the five HTML signals as integer columns) and `sources` (which dump file filled which
site, with its size and SHA-256). Re-ingesting a site replaces its rows.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Collection, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from mleditor.core.records import HtmlSignals, QuestionRecord
from mleditor.errors import DataError

FORMAT_VERSION = 1
_APPLICATION_ID = 0x4D4C4544  # "MLED": marks a SQLite file as an mleditor dataset
_INGEST_HINT = "create one with `mleditor data ingest DUMP... --output FILE`"

_COLUMNS = (
    "site", "id", "title", "body", "score", "creation_date", "owner_id", "owner_name", "tags",
    "answer_count", "view_count", "accepted_answer_id", "closed_date",
    "code_blocks", "links", "images", "list_items", "paragraphs",
)
_SCHEMA = f"""
CREATE TABLE questions (
    site TEXT NOT NULL, id INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL,
    score INTEGER NOT NULL, creation_date TEXT NOT NULL, owner_id INTEGER, owner_name TEXT,
    tags TEXT NOT NULL, answer_count INTEGER NOT NULL, view_count INTEGER,
    accepted_answer_id INTEGER, closed_date TEXT,
    code_blocks INTEGER NOT NULL, links INTEGER NOT NULL, images INTEGER NOT NULL,
    list_items INTEGER NOT NULL, paragraphs INTEGER NOT NULL,
    PRIMARY KEY (site, id)
);
CREATE TABLE sources (
    path TEXT NOT NULL, site TEXT NOT NULL, size_bytes INTEGER NOT NULL, sha256 TEXT NOT NULL,
    questions INTEGER NOT NULL, ingested_at TEXT NOT NULL,
    PRIMARY KEY (site, path)
);
PRAGMA application_id = {_APPLICATION_ID};
PRAGMA user_version = {FORMAT_VERSION};
"""
_INSERT_QUESTION = (
    f"INSERT OR REPLACE INTO questions ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)


@dataclass(frozen=True)
class SourceFile:
    """The dump file a site's questions were read from."""

    path: str
    size_bytes: int
    sha256: str


class DatasetWriter:
    """Writes question records into a dataset file (created if missing), one transaction per site.

    The first `write_site` for a site in a writer's life replaces that site's rows and
    sources; later calls for the same site add to them.
    """

    def __init__(self, path: Path, *, batch_size: int = 1000) -> None:
        self.path = Path(path)
        self.batch_size = batch_size
        self._connection: sqlite3.Connection | None = None
        self._sites_written: set[str] = set()

    def __enter__(self) -> DatasetWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(self.path)
        except sqlite3.Error as err:
            raise DataError(f"cannot open {self.path} for writing ({err}); pass a file path with --output") from None
        try:
            if _is_blank(connection):
                connection.executescript(_SCHEMA)
            else:
                _check_format(connection, self.path)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def merge_same_sites(self) -> list[SiteMerge]:
        """Merge the sites written that are two dumps of one site (see `merge_same_sites`)."""
        if self._connection is None:
            raise RuntimeError("DatasetWriter is not open; use it in a `with` block")
        return merge_same_sites(self._connection)

    def write_site(
        self, site: str, records: Iterable[QuestionRecord], source: SourceFile | None = None
    ) -> int:
        """Write `site`'s records (and where they came from) in one transaction; return how many."""
        if self._connection is None:
            raise RuntimeError("DatasetWriter is not open; use it in a `with` block")
        connection = self._connection
        written = 0
        with connection:  # commits, or rolls back if reading the dump fails half-way
            if site not in self._sites_written:
                connection.execute("DELETE FROM questions WHERE site = ?", (site,))
                connection.execute("DELETE FROM sources WHERE site = ?", (site,))
            for batch in _batches(records, self.batch_size):
                for record in batch:
                    if record.site != site:
                        raise ValueError(f"record {record.site}:{record.id} given to write_site({site!r})")
                connection.executemany(_INSERT_QUESTION, [_row_from_record(r) for r in batch])
                written += len(batch)
            if source is not None:
                connection.execute(
                    "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?)",
                    (source.path, site, source.size_bytes, source.sha256, written, _now()),
                )
        self._sites_written.add(site)
        return written


@dataclass(frozen=True)
class SiteMerge:
    """Two dumps of one site found in a dataset, merged into one: every question once, the later dump's row kept."""

    site: str  # the name the merged site keeps (the earlier dump's)
    later: str  # the later dump's site name, merged into `site`
    shared: int  # questions in both dumps: the later dump's rows kept (later score, later edits)
    only_earlier: int  # questions only in the earlier dump: kept
    only_later: int  # questions only in the later dump: kept

    def describe(self) -> str:
        return (f"{self.later} is a later dump of {self.site}: {self.shared:,} questions in both (the later rows "
                f"kept), {self.only_earlier:,} only in {self.site}, {self.only_later:,} only in {self.later}")


# Two sites are one when most of the smaller one's questions reappear in the other with the same id
# and creation date (a creation date never changes; a title may be edited between dumps).
SAME_SITE_SHARE = 0.5
SAME_SITE_MIN_QUESTIONS = 10


def merge_same_sites(connection: sqlite3.Connection) -> list[SiteMerge]:
    """Find pairs of sites that are two dumps of one site and merge each into the earlier dump's name."""
    sizes = dict(connection.execute("SELECT site, COUNT(*) FROM questions GROUP BY site").fetchall())
    latest = dict(connection.execute("SELECT site, MAX(creation_date) FROM questions GROUP BY site").fetchall())
    pairs = connection.execute(
        "SELECT a.site, b.site, COUNT(*) FROM questions a JOIN questions b ON a.id = b.id AND a.site < b.site "
        "AND a.creation_date = b.creation_date GROUP BY a.site, b.site").fetchall()
    merges = []
    for first, second, shared in pairs:
        if shared < max(SAME_SITE_MIN_QUESTIONS, SAME_SITE_SHARE * min(sizes[first], sizes[second])):
            continue
        earlier, later = sorted((first, second), key=lambda s: (latest[s], sizes[s]))
        with connection:
            connection.execute("DELETE FROM questions WHERE site = ? AND id IN "
                               "(SELECT id FROM questions WHERE site = ?)", (earlier, later))
            connection.execute("UPDATE questions SET site = ? WHERE site = ?", (earlier, later))
            connection.execute("UPDATE sources SET site = ? WHERE site = ?", (earlier, later))
        merges.append(SiteMerge(earlier, later, shared, sizes[earlier] - shared, sizes[later] - shared))
    return merges


def write_dataset(records: Iterable[QuestionRecord], output: Path) -> int:
    """Write records (of any sites) into a dataset file, replacing those sites' rows; return how many."""
    with DatasetWriter(output) as writer:
        return sum(
            writer.write_site(site, group)
            for site, group in itertools.groupby(records, key=lambda record: record.site)
        )


def read_dataset(path: Path, sites: Collection[str] | None = None) -> list[QuestionRecord]:
    """Every question in the dataset (or in `sites` only), ordered by site then id."""
    with _open_for_reading(path) as connection:
        query = f"SELECT {', '.join(_COLUMNS)} FROM questions"
        wanted: list[str] = []
        if sites is not None:
            wanted = sorted(set(sites))
            known = {site for (site,) in connection.execute("SELECT DISTINCT site FROM questions")}
            missing = [site for site in wanted if site not in known]
            if missing:
                raise DataError(
                    f"{path} has no questions from {', '.join(missing)}; "
                    f"it has: {', '.join(sorted(known)) or 'none'}"
                )
            query += f" WHERE site IN ({', '.join('?' * len(wanted))})"
        rows = connection.execute(query + " ORDER BY site, id", wanted)
        return [_record_from_row(row) for row in rows]


def dataset_fingerprint(path: Path) -> dict[str, object]:
    """What a dataset holds, for a model's metadata: its sources, questions per site and the total."""
    with _open_for_reading(path) as connection:
        columns = ("path", "site", "size_bytes", "sha256", "questions", "ingested_at")
        sources = [
            dict(zip(columns, row))
            for row in connection.execute(f"SELECT {', '.join(columns)} FROM sources ORDER BY site, path")
        ]
        per_site = dict(connection.execute("SELECT site, COUNT(*) FROM questions GROUP BY site ORDER BY site"))
    return {  # the dataset file's own location is left out: moving it keeps its fingerprint
        "format_version": FORMAT_VERSION,
        "sources": sources,
        "questions_per_site": per_site,
        "total": sum(per_site.values()),
    }


@contextmanager
def _open_for_reading(path: Path) -> Iterator[sqlite3.Connection]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no dataset at {path}; {_INGEST_HINT}")
    uri = path.resolve().as_uri() + "?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        _check_format(connection, path)
        yield connection


def _is_blank(connection: sqlite3.Connection) -> bool:
    """A new or empty SQLite file, safe to turn into a dataset (anything else is left alone)."""
    try:
        count: int = connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError:
        return False
    return count == 0


def _check_format(connection: sqlite3.Connection, path: Path) -> None:
    try:
        application_id = connection.execute("PRAGMA application_id").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise DataError(f"{path} is not an mleditor dataset ({err}); {_INGEST_HINT}") from None
    if application_id != _APPLICATION_ID:
        raise DataError(f"{path} is not an mleditor dataset; {_INGEST_HINT}")
    if version != FORMAT_VERSION:
        raise DataError(
            f"{path} is a version {version} dataset and this mleditor reads version {FORMAT_VERSION}; "
            f"re-create it: {_INGEST_HINT}"
        )


def _batches(records: Iterable[QuestionRecord], size: int) -> Iterator[list[QuestionRecord]]:
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _row_from_record(record: QuestionRecord) -> tuple[object, ...]:
    signals = record.signals
    return (
        record.site, record.id, record.title, record.body, record.score, record.creation_date,
        record.owner_id, record.owner_name, json.dumps(list(record.tags), ensure_ascii=False),
        record.answer_count, record.view_count, record.accepted_answer_id, record.closed_date,
        signals.code_blocks, signals.links, signals.images, signals.list_items, signals.paragraphs,
    )


def _record_from_row(row: tuple[object, ...]) -> QuestionRecord:
    values = dict(zip(_COLUMNS, row))
    signals = HtmlSignals(**{f.name: values.pop(f.name) for f in fields(HtmlSignals)})  # type: ignore[arg-type]
    values["tags"] = tuple(json.loads(str(values["tags"])))
    return QuestionRecord(**values, signals=signals)  # type: ignore[arg-type]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
