"""Stream Stack Exchange `Posts.xml` dumps (a file, a folder holding one, or a site's .7z) into questions.

Reading is constant-memory: rows are parsed one at a time and dropped once turned into a
`QuestionRecord`, and a .7z member is decompressed straight into the parser, never to disk.
"""

from __future__ import annotations

import hashlib
import pyexpat
import queue
import re
import threading
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from mleditor.core.dataset import DatasetWriter, SiteMerge, SourceFile
from mleditor.core.html_text import html_to_markdown
from mleditor.core.records import MAX_QUESTION_ID, QuestionRecord
from mleditor.errors import DataError, InvalidInputError, require_extra

_QUESTION = "1"
_EXPECTED = "expected a Posts.xml file, a folder containing one, or a .7z dump"
_PROGRESS_EVERY = 100
# Every integer read from a dump is kept in SQLite (the dataset, the prediction store): a signed 64-bit range.
_INT64_MIN, _INT64_MAX = -MAX_QUESTION_ID - 1, MAX_QUESTION_ID


class DumpWarning(UserWarning):
    """Something in a dump was skipped or cut short; shown when no on_warning callback is given."""


@dataclass(frozen=True)
class IngestSummary:
    """What `ingest_dumps` wrote: questions per site, rows skipped, and one entry per dump file."""

    questions_per_site: dict[str, int]
    skipped: int
    files: list[dict[str, Any]] = field(default_factory=list)
    merged: list[SiteMerge] = field(default_factory=list)  # two dumps of one site, counted once


def iter_dump_questions(
    path: Path,
    site: str | None = None,
    *,
    allow_truncated: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> Iterator[QuestionRecord]:
    """Yield the questions of one dump, in file order; raises DataError at once if `path` holds no dump.

    Site name: `site`, else the folder holding Posts.xml, else the archive's name
    (`beer.stackexchange.com.7z` -> `beer.stackexchange.com`). Unusable rows are reported
    through `on_warning` (default: a DumpWarning) and skipped.
    """
    return iter(_DumpReader(Path(path), site, allow_truncated=allow_truncated, on_warning=on_warning))


def ingest_dumps(
    paths: Sequence[Path],
    output: Path,
    *,
    allow_truncated: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Write every question of every dump into the dataset file `output`, replacing those sites' rows.

    Every path is checked before anything is written. `on_progress` gets the running total
    of questions written. Each dump is one transaction: a dump that fails leaves its site
    as it was.
    """
    if not paths:
        raise InvalidInputError(f"no dumps given; pass one or more paths ({_EXPECTED})")
    readers = [
        _DumpReader(Path(p), None, allow_truncated=allow_truncated, on_warning=on_warning) for p in paths
    ]
    per_site: dict[str, int] = {}
    files: list[dict[str, Any]] = []
    total = 0
    with DatasetWriter(Path(output)) as writer:
        for reader in readers:
            source = SourceFile(
                path=str(reader.source.resolve()), size_bytes=reader.source.stat().st_size,
                sha256=_sha256(reader.source),
            )
            written = writer.write_site(reader.site, _reporting(reader, total, on_progress), source)
            total += written
            if on_progress is not None:
                on_progress(total)
            per_site[reader.site] = per_site.get(reader.site, 0) + written
            files.append({
                "path": source.path, "site": reader.site, "size_bytes": source.size_bytes,
                "sha256": source.sha256, "questions": written, "skipped": reader.skipped,
                "truncated": reader.truncated,
            })
        merged = writer.merge_same_sites()
    for merge in merged:
        per_site[merge.site] = merge.shared + merge.only_earlier + merge.only_later
        del per_site[merge.later]
    return IngestSummary(questions_per_site=per_site, skipped=sum(r.skipped for r in readers), files=files,
                         merged=merged)


class _UnusableRow(Exception):
    """A question row that cannot become a QuestionRecord; the message says why."""


class _DumpReader:
    """One dump: where its Posts.xml is, which site it is, and what reading it found."""

    def __init__(
        self,
        path: Path,
        site: str | None,
        *,
        allow_truncated: bool,
        on_warning: Callable[[str], None] | None,
    ) -> None:
        self.source, self.member = _locate_posts(path)
        self.site = site or _site_name(self.source, self.member)
        self.label = str(self.source) if self.member is None else f"{self.source}:{self.member}"
        self.allow_truncated = allow_truncated
        self.warn = on_warning or _warn
        self.questions = 0
        self.skipped = 0
        self.truncated = False

    def __iter__(self) -> Iterator[QuestionRecord]:
        with self._open() as stream:
            for attrs in self._rows(stream):
                if attrs.get("PostTypeId") != _QUESTION:
                    continue
                try:
                    record = _question_from_row(attrs, self.site)
                except _UnusableRow as reason:
                    self.skipped += 1
                    self.warn(f"{self.label}: row Id={attrs.get('Id', '?')} skipped: {reason}")
                    continue
                self.questions += 1
                yield record

    def _open(self) -> AbstractContextManager[Any]:
        if self.member is not None:
            return _ArchiveMemberStream(self.source, self.member)
        try:
            return open(self.source, "rb")
        except OSError as err:
            raise DataError(f"cannot read {self.source} ({err.strerror}); check its permissions") from None

    def _rows(self, stream: IO[bytes]) -> Iterator[Mapping[str, str]]:
        root = None
        head = _HeadTap(stream)
        try:
            for event, element in ET.iterparse(head, events=("start", "end")):
                if root is None:
                    root = element
                    self._refuse_entities(head)  # a DTD comes before the root element: it has been read by now
                elif event == "end" and element.tag == "row":
                    yield element.attrib
                    root.clear()  # drop finished rows: memory stays flat however big the file
        except ET.ParseError as err:
            self._refuse_entities(head, err)
            line, column = err.position
            reason = str(err).split(":")[0]
            message = (
                f"{self.label}: XML is malformed or truncated at line {line}, column {column} ({reason}) "
                f"after {self.questions} question{'' if self.questions == 1 else 's'}"
            )
            if not self.allow_truncated:
                raise DataError(f"{message}; pass --allow-truncated to keep them") from None
            self.truncated = True
            self.warn(f"{message}; kept them (--allow-truncated)")

    def _refuse_entities(self, head: _HeadTap, err: ET.ParseError | None = None) -> None:
        """A dump declaring XML entities (XXE, billion laughs) is refused for safety, --allow-truncated or not.

        Older dumps name an external DTD (`<!DOCTYPE posts SYSTEM 'posts.dtd'>`), which is never
        loaded; it is the entity declarations of an internal DTD that could read files or blow up.
        """
        if _ENTITY_DECLARATION in head.head or (err is not None and err.code in _ENTITY_ERRORS):
            detail = "" if err is None else f" ({str(err).split(':')[0]})"
            raise DataError(
                f"{self.label}: refused for safety: it declares XML entities{detail}, which Stack Exchange "
                "dumps never do (external entities or entity expansion could read local files or exhaust "
                "memory); use the dump as downloaded from archive.org"
            )


_ENTITY_DECLARATION = b"<!ENTITY"
# expat's codes for entity trouble: recursive, external in an attribute, amplification (billion laughs)...
_ENTITY_ERRORS = frozenset({
    pyexpat.errors.codes[message] for message in (
        pyexpat.errors.XML_ERROR_RECURSIVE_ENTITY_REF, pyexpat.errors.XML_ERROR_BINARY_ENTITY_REF,
        pyexpat.errors.XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF, pyexpat.errors.XML_ERROR_EXTERNAL_ENTITY_HANDLING,
        pyexpat.errors.XML_ERROR_ENTITY_DECLARED_IN_PE, pyexpat.errors.XML_ERROR_AMPLIFICATION_LIMIT_BREACH,
    )
})


class _HeadTap:
    """A binary stream that keeps a copy of its first bytes (the prolog, where entities are declared)."""

    _KEEP = 1 << 16  # a prolog is a few lines; a DTD pushed further away still fails on its entities

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.head = b""

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if len(self.head) < self._KEEP:
            self.head += data[: self._KEEP - len(self.head)]
        return data


def _question_from_row(attrs: Mapping[str, str], site: str) -> QuestionRecord:
    post_id = _required_int(attrs, "Id")
    title = (attrs.get("Title") or "").strip()
    if not title:
        raise _UnusableRow("missing Title")
    score = _required_int(attrs, "Score")
    creation_date = attrs.get("CreationDate")
    if not creation_date:
        raise _UnusableRow("missing CreationDate")
    body, signals = html_to_markdown(attrs.get("Body") or "")
    return QuestionRecord(
        site=site,
        id=post_id,
        title=title,
        body=body,
        score=score,
        creation_date=creation_date,
        owner_id=_optional_int(attrs, "OwnerUserId"),
        owner_name=attrs.get("OwnerDisplayName") or None,
        tags=_parse_tags(attrs.get("Tags")),
        answer_count=_optional_int(attrs, "AnswerCount") or 0,
        view_count=_optional_int(attrs, "ViewCount"),
        accepted_answer_id=_optional_int(attrs, "AcceptedAnswerId"),
        closed_date=attrs.get("ClosedDate") or None,
        signals=signals,
    )


def _required_int(attrs: Mapping[str, str], name: str) -> int:
    value = attrs.get(name)
    if value is None or value == "":
        raise _UnusableRow(f"missing {name}")
    try:
        number = int(value)
    except ValueError:
        raise _UnusableRow(f"{name} {value[:40]!r} is not an integer") from None
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise _UnusableRow(f"{name} {value[:40]} is out of range (a 64-bit integer)")
    if name == "Id" and number < 0:
        raise _UnusableRow(f"{name} {value[:40]} is negative")
    return number


def _optional_int(attrs: Mapping[str, str], name: str) -> int | None:
    """The integer, or None when it is missing, not an integer or out of a 64-bit integer's range."""
    try:
        number = int(attrs[name])
    except (KeyError, ValueError):
        return None
    return number if _INT64_MIN <= number <= _INT64_MAX else None


def _parse_tags(raw: str | None) -> tuple[str, ...]:
    """Tags in either dump syntax: `<a><b>` (most dumps) or `|a|b|` (newer ones)."""
    raw = (raw or "").strip()
    if raw.startswith("<"):
        return tuple(tag for tag in re.findall(r"<([^<>]*)>", raw) if tag)
    if raw.startswith("|"):
        return tuple(tag for tag in raw.split("|") if tag)
    return tuple(raw.split())


def _locate_posts(path: Path) -> tuple[Path, str | None]:
    """The file to read and, for an archive, the Posts.xml member inside it."""
    if path.is_dir():
        candidate = path / "Posts.xml"
        if candidate.is_file():
            return candidate, None
    elif path.is_file():
        if path.suffix.lower() == ".7z":
            return path, _archive_member(path)
        return path, None
    raise DataError(f"no Posts.xml at {path}; {_EXPECTED}")


def _site_name(source: Path, member: str | None) -> str:
    if member is None:
        return source.resolve().parent.name
    # Big sites ship their posts alone, as e.g. stackoverflow.com-Posts.7z.
    return re.sub(r"-posts$", "", source.stem, flags=re.IGNORECASE)


def _archive_member(archive: Path) -> str:
    require_extra("py7zr", "archives")
    import py7zr

    try:
        with py7zr.SevenZipFile(archive, "r") as seven_zip:
            names: list[str] = seven_zip.getnames()
    except (py7zr.exceptions.ArchiveError, EOFError, OSError, ValueError) as err:
        raise DataError(f"{archive} is not a readable .7z archive ({err}); re-download it") from None
    members = [name for name in names if PurePosixPath(name).name.lower() == "posts.xml"]
    if not members:
        raise DataError(f"no Posts.xml inside {archive}; {_EXPECTED} (a site's dump from archive.org)")
    return min(members, key=len)


class _ArchiveMemberStream:
    """A read-only stream of one .7z member, decompressed by a worker thread into a small queue.

    py7zr pushes decompressed chunks into a writer; the parser pulls bytes. The bounded
    queue between them holds at most two chunks whatever the member's size. (py7zr makes a
    chunk from 1 MiB of compressed input, so a few MiB for XML; its own ceiling is 128 MB.)
    """

    _END = object()

    def __init__(self, archive: Path, member: str) -> None:
        self.archive = archive
        self.member = member
        self._chunks: queue.Queue[object] = queue.Queue(maxsize=2)
        self._cancelled = threading.Event()
        self._chunk = memoryview(b"")
        self._finished = False
        self._thread = threading.Thread(target=self._decompress, name=f"7z:{archive.name}", daemon=True)

    def __enter__(self) -> _ArchiveMemberStream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._cancelled.set()  # the worker stops at its next chunk; it is a daemon, so never wait long
        try:
            while True:
                self._chunks.get_nowait()
        except queue.Empty:
            pass
        self._thread.join(timeout=1.0)

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while size < 0 or len(out) < size:
            if not self._chunk:
                if self._finished:
                    break
                self._next_chunk()
                continue
            take = len(self._chunk) if size < 0 else min(size - len(out), len(self._chunk))
            out += self._chunk[:take]
            self._chunk = self._chunk[take:]
        return bytes(out)

    def _next_chunk(self) -> None:
        item = self._chunks.get()
        if item is self._END:
            self._finished = True
        elif isinstance(item, BaseException):
            self._finished = True
            raise DataError(f"cannot decompress {self.member} from {self.archive} ({item}); re-download it") from item
        else:
            self._chunk = memoryview(item)  # type: ignore[arg-type]

    def _put(self, item: object) -> None:
        while not self._cancelled.is_set():
            try:
                self._chunks.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Cancelled

    def _decompress(self) -> None:
        import py7zr
        from py7zr.io import Py7zIO, WriterFactory

        stream = self

        class QueueWriter(Py7zIO):
            def write(self, data: bytes | bytearray) -> int:
                stream._put(bytes(data))
                return len(data)

            def read(self, size: int | None = None) -> bytes:
                return b""

            def seek(self, offset: int, whence: int = 0) -> int:
                return 0

            def flush(self) -> None:
                return None

            def size(self) -> int:
                return 0

        class QueueWriterFactory(WriterFactory):
            def create(self, filename: str) -> Py7zIO:
                return QueueWriter()

        try:
            with py7zr.SevenZipFile(self.archive, "r") as seven_zip:
                seven_zip.extract(targets=[self.member], factory=QueueWriterFactory())
            self._put(self._END)
        except _Cancelled:
            pass
        except Exception as err:  # noqa: BLE001 - handed to the reading side, which reports it
            with suppress(_Cancelled):
                self._put(err)


class _Cancelled(Exception):
    """The reader stopped early; the decompressing thread should give up."""


def _reporting(
    records: Iterable[QuestionRecord], start: int, on_progress: Callable[[int], None] | None
) -> Iterator[QuestionRecord]:
    count = start
    for record in records:
        yield record
        count += 1
        if on_progress is not None and count % _PROGRESS_EVERY == 0:
            on_progress(count)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _warn(message: str) -> None:
    warnings.warn(message, DumpWarning, stacklevel=3)
