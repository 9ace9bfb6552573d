"""What a batch job reads: Stack Exchange dumps, CSV, Parquet, or a table in the store, as one stream of rows.

Every input is read as a stream (constant memory, whatever its size). Specs:

* a `Posts.xml`, a folder holding one, or a site's `.7z` (extra `archives`): read with core ingest;
  its site is the folder's (or the archive's) name, its bodies are converted from HTML on the way.
* `*.csv` (UTF-8, header row) or `*.parquet` / `*.pq` (extra `parquet`): columns `site`,
  `question_id` (or `id`, an integer), `title` and `body` (Markdown or HTML; may be missing or empty
  when the title is not), optionally `owner_id` (the author's account id on the site: whose personal
  model part `--personalized` applies; empty for none); other columns are ignored.
* `table:NAME`: a table (or `schema.table`) in the store, with the same columns as a CSV.

A row that cannot be read (no integer id, an id a store cannot hold, no site, bad UTF-8, a dump row
without a title, CSV that does not parse) becomes a `RejectRecord` in the stream, not an exception:
the job files it and goes on. Ids are range-checked here, where they enter (0 to 2^63 - 1, what every
store holds), so no row can stop a job at the store.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mleditor.batch.scoring import InputRow
from mleditor.core.records import MAX_QUESTION_ID
from mleditor.errors import DataError, InvalidInputError, require_extra
from mleditor.stores.predictions.base import PredictionStore
from mleditor.stores.predictions.records import RejectRecord, question_id_in_range

TABLE_PREFIX = "table:"
ID_COLUMNS = ("question_id", "id")
Row = InputRow | RejectRecord
_CSV_FIELD_LIMIT = 64 * 1024 * 1024  # oversize bodies are rejected row by row by the validation limits


@dataclass(frozen=True)
class InputSource:
    """One input: what kind it is, where it is, and (for resuming) what it looked like when read."""

    spec: str
    kind: str  # dump, csv, parquet or table
    path: Path | None = None

    def fingerprint(self, store: PredictionStore | None) -> dict[str, Any]:
        """Changes when the input changes, so that a resumed job never skips rows of a different file."""
        if self.kind == "table":
            return {"table": self.spec, "summary": table_summary(_need_store(store), self.table)}
        stat = self.file.stat()
        return {"path": str(self.file.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    @property
    def table(self) -> str:
        return self.spec[len(TABLE_PREFIX):]

    @property
    def file(self) -> Path:
        if self.path is None:
            raise InvalidInputError(f"{self.spec} is a table, not a file")
        return self.path


def parse_inputs(specs: Sequence[str]) -> list[InputSource]:
    """Check every spec before anything runs; InvalidInputError or DataError say what is wrong."""
    if not specs:
        raise InvalidInputError("no inputs given; pass --input PATH (Posts.xml, folder, .7z, .csv, .parquet) "
                                "or --input table:NAME")
    return [_parse_input(spec) for spec in specs]


def _parse_input(spec: str) -> InputSource:
    if spec.startswith(TABLE_PREFIX):
        if not spec[len(TABLE_PREFIX):]:
            raise InvalidInputError("--input table: needs a table name, e.g. table:questions")
        return InputSource(spec, "table")
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(f"input {spec} does not exist; pass a Posts.xml, a folder, a .7z, a .csv or a .parquet")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return InputSource(spec, "csv", path)
    if suffix in (".parquet", ".pq"):
        require_extra("pyarrow", "parquet")
        return InputSource(spec, "parquet", path)
    if path.is_dir() and not (path / "Posts.xml").is_file():
        raise DataError(f"no Posts.xml in the folder {spec}; pass a site's dump folder")
    return InputSource(spec, "dump", path)


def inputs_fingerprint(sources: Sequence[InputSource], store: PredictionStore | None) -> list[dict[str, Any]]:
    return [source.fingerprint(store) for source in sources]


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:32]


def iter_rows(sources: Sequence[InputSource], store: PredictionStore | None = None, *, allow_truncated: bool = False,
              on_warning: Callable[[str], None] | None = None) -> Iterator[Row]:
    """Every row of every input in order, each with its ordinal (position in this stream)."""
    ordinal = 0
    for source in sources:
        for row in _iter_source(source, store, allow_truncated, on_warning or (lambda message: None)):
            yield _with_ordinal(row, ordinal)
            ordinal += 1


def _with_ordinal(row: Row, ordinal: int) -> Row:
    return replace(row, ordinal=ordinal)


def count_rows(sources: Sequence[InputSource], store: PredictionStore | None = None) -> int | None:
    """The number of rows when it is cheap to know (Parquet metadata, a table count), else None."""
    total = 0
    for source in sources:
        if source.kind == "parquet":
            import pyarrow.parquet as pq

            total += pq.ParquetFile(source.file).metadata.num_rows
        elif source.kind == "table":
            total += int(table_summary(_need_store(store), source.table)[0])
        else:
            return None
    return total


def _iter_source(source: InputSource, store: PredictionStore | None, allow_truncated: bool,
                 on_warning: Callable[[str], None]) -> Iterator[Row]:
    if source.kind == "dump":
        return _iter_dump(source, allow_truncated, on_warning)
    if source.kind == "csv":
        return _iter_csv(source)
    if source.kind == "parquet":
        return _iter_parquet(source)
    return (_row_from_mapping(mapping, f"{source.spec} row {n}") for n, mapping in
            enumerate(iter_table(_need_store(store), source.table), 1))


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def iter_table(store: PredictionStore, table: str, page: int = 1000) -> Iterator[dict[str, Any]]:
    """Every row of a table in the store as a dict, in (site, id) order, read in pages (keyset, not OFFSET)."""
    name, key = _table_and_key(store, table)
    after: list[Any] = []
    while True:
        where = f"WHERE (site, {key}) > (?, ?) " if after else ""
        columns, rows = store.query(f"SELECT * FROM {name} {where}ORDER BY site, {key} LIMIT ?", [*after, page])
        for row in rows:
            yield dict(zip(columns, row))
        if len(rows) < page:
            return
        last = dict(zip(columns, rows[-1]))
        after = [last["site"], last[key.strip('"')]]


def table_summary(store: PredictionStore, table: str) -> list[str]:
    """Row count and largest site and id: changes when rows are added or removed (for resuming)."""
    name, key = _table_and_key(store, table)
    _, rows = store.query(f"SELECT COUNT(*), MAX(site), MAX({key}) FROM {name}")
    return [str(value) for value in rows[0]]


def _table_and_key(store: PredictionStore, table: str) -> tuple[str, str]:
    """The quoted table name and id column, after checking the table has the columns a row needs."""
    if not _IDENTIFIER.fullmatch(table):
        raise InvalidInputError(f"table name {table!r} is not a plain SQL name (letters, digits, _; schema.table)")
    name = ".".join(f'"{part}"' for part in table.split("."))
    try:
        columns, _ = store.query(f"SELECT * FROM {name} WHERE 1 = 0")
    except DataError:
        raise DataError(f"table {table} not found in the store; check --input table:NAME") from None
    key = next((c for c in ID_COLUMNS if c in columns), None)
    if key is None or not {"site", "title"} <= set(columns):
        raise DataError(f"table {table} has columns {', '.join(columns)}; it needs site, question_id (or id), "
                        "title and body")
    return name, f'"{key}"'


_SKIPPED_ROW = re.compile(r"row Id=(\S+) skipped: (.*)$")


def _iter_dump(source: InputSource, allow_truncated: bool, on_warning: Callable[[str], None]) -> Iterator[Row]:
    from mleditor.core.ingest import iter_dump_questions

    pending: list[str] = []
    site: str | None = None
    for record in iter_dump_questions(source.file, allow_truncated=allow_truncated, on_warning=pending.append):
        site = record.site  # rows skipped before this one are filed under its site
        yield from _dump_warnings(pending, site, source, on_warning)
        where = f"{source.spec} row Id={record.id}"
        if not question_id_in_range(record.id):
            yield RejectRecord(record.site, None, where, _out_of_range("Id", record.id))
            continue
        yield InputRow(record.site, record.id, record.title, record.body, where, markdown=True,
                       owner_id=record.owner_id)
    yield from _dump_warnings(pending, site, source, on_warning)


def _dump_warnings(pending: list[str], site: str | None, source: InputSource,
                   on_warning: Callable[[str], None]) -> Iterator[Row]:
    """A skipped dump row becomes a reject; anything else (a truncated file kept) is a warning."""
    for message in pending:
        skipped = _SKIPPED_ROW.search(message)
        if skipped:
            post_id = skipped.group(1)
            known = post_id.isdigit() and question_id_in_range(int(post_id))
            yield RejectRecord(site, int(post_id) if known else None, f"{source.spec} row Id={post_id[:40]}",
                               f"unusable dump row: {skipped.group(2)}")
        else:
            on_warning(message)
    pending.clear()


def _iter_csv(source: InputSource) -> Iterator[Row]:
    csv.field_size_limit(min(sys.maxsize, _CSV_FIELD_LIMIT))
    # surrogateescape: a row with bytes that are not UTF-8 is rejected on its own, not the whole file.
    with open(source.file, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        lines = _LineCounter(handle)
        # strict: a quote that is never closed swallows the rows after it; strict parsing stops at the
        # first quote that cannot close a field (or at the end of the file), so the swallowed lines are
        # reported as one reject instead of vanishing into a field.
        reader = csv.DictReader(lines, strict=True)
        _check_columns(reader.fieldnames or [], source.spec)
        while True:
            line = lines.count + 1
            try:
                mapping = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield RejectRecord(None, None, f"{source.spec} line {line}", _csv_error(exc, line, lines.count))
                continue
            yield _row_from_mapping(mapping, f"{source.spec} line {line}")


class _LineCounter:
    """The lines of a text file, counting how many the CSV reader has taken (its own count stops at an error)."""

    def __init__(self, handle: Iterator[str]) -> None:
        self.handle = handle
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self.handle)
        self.count += 1
        return line


def _csv_error(exc: csv.Error, first: int, last: int) -> str:
    if last <= first:
        return f"unreadable CSV row: {exc}"
    return (f"unreadable CSV row: {exc}; lines {first}-{last} were read as one row: a quote opened on line {first} "
            "is probably never closed, so the rows on those lines were not read; fix the quote and run again")


def _iter_parquet(source: InputSource) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source.file)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types for a bad file
        raise DataError(f"{source.spec} is not a readable Parquet file ({exc}); check the file") from None
    names = parquet.schema_arrow.names
    _check_columns(names, source.spec)
    wanted = [c for c in ("site", *ID_COLUMNS, "title", "body", "owner_id") if c in names]
    number = 0
    for batch in parquet.iter_batches(batch_size=1024, columns=wanted):
        for mapping in batch.to_pylist():
            number += 1
            yield _row_from_mapping(mapping, f"{source.spec} row {number}")


def _check_columns(columns: Sequence[str], spec: str) -> None:
    if "site" not in columns or "title" not in columns or not any(c in columns for c in ID_COLUMNS):
        raise DataError(f"{spec} has columns {', '.join(columns) or '(none)'}; it needs site, question_id (or id), "
                        "title and body")


def _row_from_mapping(mapping: Mapping[str, Any], source: str) -> Row:
    """An InputRow from a CSV/Parquet/table row, or the reason it cannot be one."""
    raw_id = mapping.get("question_id", mapping.get("id"))
    site = mapping.get("site")
    try:
        question_id = _integer(raw_id)
    except ValueError:
        return RejectRecord(site if isinstance(site, str) else None, None, source,
                            f"question_id {str(raw_id)[:40]!r} is not an integer")
    if not question_id_in_range(question_id):
        return RejectRecord(site if isinstance(site, str) else None, None, source,
                            _out_of_range("question_id", question_id))
    if not isinstance(site, str) or not site.strip():
        return RejectRecord(None, question_id, source, "site is missing or empty")
    title, body, raw_owner = mapping.get("title"), mapping.get("body"), mapping.get("owner_id")
    try:
        owner_id = None if raw_owner is None or raw_owner == "" else _integer(raw_owner)
    except ValueError:
        return RejectRecord(site.strip(), question_id, source, f"owner_id {str(raw_owner)[:40]!r} is not an integer")
    return InputRow(site.strip(), question_id, "" if title is None else title, "" if body is None else body, source,
                    owner_id=owner_id)


def _out_of_range(name: str, value: int) -> str:
    return f"{name} {str(value)[:40]} is out of range: a question id is an integer from 0 to {MAX_QUESTION_ID}"


def _integer(value: Any) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(value)


def _need_store(store: PredictionStore | None) -> PredictionStore:
    if store is None:
        raise InvalidInputError("a table:NAME input is read from the store; pass --store")
    return store
