"""The dataset file: records round-trip, sites are replaced not duplicated, foreign files are refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from mleditor.core.dataset import DatasetWriter, SourceFile, dataset_fingerprint, read_dataset, write_dataset
from mleditor.core.records import HtmlSignals, QuestionRecord
from mleditor.errors import DataError


def record(site: str, post_id: int, **fields) -> QuestionRecord:
    values = {"title": f"Question {post_id}?", "body": f"Body {post_id}", "score": 1,
              "creation_date": "2020-01-01T00:00:00.000"}
    values.update(fields)
    return QuestionRecord(site=site, id=post_id, **values)


FULL = record(
    "beer", 7, title="Stout 🍺?", body="text\n\n```\ncode\n```", score=-2, owner_id=None, owner_name="Ex User",
    tags=("brewing", "stout"), answer_count=3, view_count=None, accepted_answer_id=9,
    closed_date="2021-01-01T00:00:00.000", signals=HtmlSignals(code_blocks=1, links=2, images=3, list_items=4, paragraphs=5),
)


def test_every_field_round_trips_through_the_dataset_file(tmp_path):
    path = tmp_path / "data.sqlite"
    assert write_dataset([FULL], path) == 1
    assert read_dataset(path) == [FULL]


def test_questions_come_back_ordered_by_site_then_id(tmp_path):
    path = tmp_path / "data.sqlite"
    write_dataset([record("b", 2), record("b", 1), record("a", 10), record("a", 3)], path)
    assert [(q.site, q.id) for q in read_dataset(path)] == [("a", 3), ("a", 10), ("b", 1), ("b", 2)]


def test_reading_can_be_limited_to_some_sites(tmp_path):
    path = tmp_path / "data.sqlite"
    write_dataset([record("a", 1), record("b", 1), record("c", 1)], path)
    assert [q.site for q in read_dataset(path, sites=["c", "a"])] == ["a", "c"]


def test_asking_for_a_site_the_dataset_lacks_names_the_sites_it_has(tmp_path):
    path = tmp_path / "data.sqlite"
    write_dataset([record("a", 1)], path)
    with pytest.raises(DataError, match="no questions from zzz; it has: a"):
        read_dataset(path, sites=["zzz"])


def test_writing_a_site_again_replaces_its_rows_and_leaves_other_sites(tmp_path):
    path = tmp_path / "data.sqlite"
    write_dataset([record("a", 1), record("a", 2), record("b", 1)], path)
    write_dataset([record("a", 2, score=50)], path)
    assert [(q.site, q.id, q.score) for q in read_dataset(path)] == [("a", 2, 50), ("b", 1, 1)]


def test_one_writer_can_add_a_site_in_several_parts(tmp_path):
    path = tmp_path / "data.sqlite"
    with DatasetWriter(path, batch_size=2) as writer:
        writer.write_site("a", [record("a", i) for i in range(5)])
        writer.write_site("a", [record("a", i) for i in range(5, 8)])
    assert len(read_dataset(path)) == 8


def test_a_site_whose_records_fail_midway_keeps_its_previous_rows(tmp_path):
    path = tmp_path / "data.sqlite"
    write_dataset([record("a", 1)], path)

    def breaks_after_one():
        yield record("a", 2)
        raise DataError("dump broke off")

    with DatasetWriter(path, batch_size=1) as writer, pytest.raises(DataError):
        writer.write_site("a", breaks_after_one())
    assert [q.id for q in read_dataset(path)] == [1]


def test_fingerprint_lists_sources_and_questions_per_site(tmp_path):
    path = tmp_path / "data.sqlite"
    with DatasetWriter(path) as writer:
        writer.write_site("b", [record("b", 1), record("b", 2)], SourceFile("/dumps/b/Posts.xml", 123, "ab" * 32))
        writer.write_site("a", [record("a", 1)], SourceFile("/dumps/a.7z", 45, "cd" * 32))
    fingerprint = dataset_fingerprint(path)
    assert fingerprint["questions_per_site"] == {"a": 1, "b": 2}
    assert fingerprint["total"] == 3
    sources = fingerprint["sources"]
    assert [(s["site"], s["path"], s["size_bytes"], s["questions"]) for s in sources] == [
        ("a", "/dumps/a.7z", 45, 1), ("b", "/dumps/b/Posts.xml", 123, 2),
    ]
    assert sources[0]["sha256"] == "cd" * 32 and sources[0]["ingested_at"]


def test_missing_dataset_says_how_to_create_one(tmp_path):
    with pytest.raises(DataError, match=r"no dataset at .*mleditor data ingest .* --output FILE"):
        read_dataset(tmp_path / "absent.sqlite")


def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a database " * 100)
    with pytest.raises(DataError, match="is not an mleditor dataset"):
        read_dataset(path)
    with pytest.raises(DataError, match="is not an mleditor dataset"):
        write_dataset([record("a", 1)], path)
    assert path.read_text() == "not a database " * 100


def test_another_programs_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE questions (x)")
    connection.close()
    with pytest.raises(DataError, match="is not an mleditor dataset; create one with"):
        dataset_fingerprint(path)
    with pytest.raises(DataError, match="is not an mleditor dataset"):
        write_dataset([record("a", 1)], path)


def test_a_dataset_from_another_format_version_is_refused(tmp_path):
    path = tmp_path / "data.sqlite"
    write_dataset([record("a", 1)], path)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(DataError, match="version 99 dataset"):
        read_dataset(path)


def test_writer_creates_missing_parent_folders(tmp_path):
    path = tmp_path / "deep" / "er" / "data.sqlite"
    write_dataset([record("a", 1)], path)
    assert read_dataset(Path(path))[0].id == 1
