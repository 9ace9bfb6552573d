"""Reading inputs: dumps, CSV, Parquet and store tables as one stream of rows; unreadable rows become rejects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mleditor.batch.inputs import count_rows, inputs_fingerprint, iter_rows, iter_table, parse_inputs, table_summary
from mleditor.batch.scoring import InputRow
from mleditor.errors import DataError, InvalidInputError
from mleditor.stores.predictions.records import RejectRecord
from tests.helpers import on_every_store

DUMPS = Path(__file__).parent.parent / "fixtures" / "dumps"
# `table:` inputs are SQL tables in the store; memory:// has none (its query() refuses, by design).
SQL_TABLES_ONLY = on_every_store(memory=pytest.mark.skip(reason="table: inputs need SQL tables; memory:// has none"))


def dump_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copyfile(DUMPS / f"{name}.xml", folder / "Posts.xml")
    return folder


def read(specs: list[str], store=None) -> list:
    return list(iter_rows(parse_inputs(specs), store))


def test_dump_rows_keep_their_site_and_markdown_body(tmp_path):
    rows = read([str(dump_folder(tmp_path, "tiny-site"))])
    assert rows and all(isinstance(r, InputRow) and r.site == "tiny-site" and r.markdown for r in rows)
    assert "<p>" not in rows[0].body
    assert [r.ordinal for r in rows] == list(range(len(rows)))


def test_unusable_dump_rows_become_rejects_not_silence(tmp_path):
    rows = read([str(dump_folder(tmp_path, "unusable-rows"))])
    rejects = [r for r in rows if isinstance(r, RejectRecord)]
    assert [r.question_id for r in rejects] == [None, 21, 22]
    assert all(r.site == "unusable-rows" for r in rejects)
    assert "missing Title" in rejects[2].reason and rejects[2].source.endswith("row Id=22")
    assert [r.question_id for r in rows if isinstance(r, InputRow)] == [23]


def test_a_site_7z_is_read_as_a_stream_and_named_after_the_archive(tmp_path):
    py7zr = pytest.importorskip("py7zr", reason="the archives extra is not installed")
    archive = tmp_path / "beer.stackexchange.com.7z"
    with py7zr.SevenZipFile(archive, "w") as writer:
        writer.writestr((DUMPS / "tiny-site.xml").read_bytes(), "Posts.xml")
    rows = read([str(archive)])
    assert rows and {r.site for r in rows} == {"beer.stackexchange.com"}


def test_a_malformed_dump_stops_the_read_with_a_message_naming_the_option(tmp_path):
    with pytest.raises(DataError, match="--allow-truncated"):
        read([str(dump_folder(tmp_path, "truncated"))])


def test_csv_rows_accept_id_as_the_question_id_and_ignore_other_columns(tmp_path, csv_file):
    path = csv_file(tmp_path / "q.csv", [{"site": "beer", "id": "7", "title": "Flat?", "body": "<p>Why</p>", "x": 1}],
                    columns=("site", "id", "title", "body", "x"))
    [row] = read([str(path)])
    assert (row.site, row.question_id, row.title, row.body, row.markdown) == ("beer", 7, "Flat?", "<p>Why</p>", False)
    assert row.source == f"{path} line 2"


def test_csv_rows_without_an_integer_id_or_a_site_are_rejected(tmp_path, csv_file):
    path = csv_file(tmp_path / "q.csv", [
        {"site": "beer", "question_id": "abc", "title": "t", "body": "b"},
        {"site": "", "question_id": "3", "title": "t", "body": "b"},
        {"site": "beer", "question_id": "4", "title": "t", "body": ""},
    ])
    rows = read([str(path)])
    assert isinstance(rows[0], RejectRecord) and "'abc' is not an integer" in rows[0].reason
    assert isinstance(rows[1], RejectRecord) and rows[1].question_id == 3 and "site is missing" in rows[1].reason
    assert isinstance(rows[2], InputRow) and rows[2].body == ""


def test_csv_bytes_that_are_not_utf8_reach_the_row_not_the_file(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b"site,question_id,title,body\nbeer,1,caf\xe9,b\nbeer,2,ok,b\n")
    rows = read([str(path)])
    assert [r.question_id for r in rows] == [1, 2]  # the scorer rejects row 1 as not UTF-8


def test_a_csv_without_the_needed_columns_is_refused_naming_them(tmp_path, csv_file):
    path = csv_file(tmp_path / "q.csv", [{"name": "x"}], columns=("name",))
    with pytest.raises(DataError, match="needs site, question_id"):
        read([str(path)])


def test_parquet_rows_are_read_in_batches(tmp_path, questions):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    data = questions(2500)
    data[3]["question_id"] = None
    pq.write_table(pa.Table.from_pylist(data), tmp_path / "q.parquet")
    rows = read([str(tmp_path / "q.parquet")])
    assert len(rows) == 2500 and isinstance(rows[3], RejectRecord)
    assert rows[10] == InputRow("beer", 11, data[10]["title"], data[10]["body"], f"{tmp_path / 'q.parquet'} row 11", 10)
    assert count_rows(parse_inputs([str(tmp_path / "q.parquet")])) == 2500


@SQL_TABLES_ONLY
def test_a_table_in_the_store_is_an_input(store, run_sql):
    run_sql(store, "CREATE TABLE open_questions (site TEXT, question_id INTEGER, title TEXT, body TEXT)")
    run_sql(store, "INSERT INTO open_questions VALUES (?, ?, ?, ?)", [("beer", 2, "b", "x"), ("beer", 1, "a", None)])
    rows = read(["table:open_questions"], store)
    assert [(r.question_id, r.title, r.body) for r in rows] == [(1, "a", ""), (2, "b", "x")]
    assert count_rows(parse_inputs(["table:open_questions"]), store) == 2


@SQL_TABLES_ONLY
def test_a_table_is_read_in_key_order_across_pages(store, run_sql):
    run_sql(store, "CREATE TABLE questions (site TEXT, id INTEGER, title TEXT, body TEXT, extra TEXT)")
    run_sql(store, "INSERT INTO questions VALUES (?, ?, ?, ?, ?)",
            [("b", i, f"t{i}", "body", "x") for i in range(5)] + [("a", 9, "t", None, "x")])
    rows = list(iter_table(store, "questions", page=2))
    assert [(r["site"], r["id"]) for r in rows] == [("a", 9), ("b", 0), ("b", 1), ("b", 2), ("b", 3), ("b", 4)]
    before = table_summary(store, "questions")
    run_sql(store, "INSERT INTO questions VALUES (?, ?, ?, ?, ?)", [("c", 1, "t", "b", "x")])
    assert before[0] == "6" and table_summary(store, "questions") != before


@SQL_TABLES_ONLY
def test_a_missing_table_or_one_without_the_columns_is_explained(store, run_sql):
    with pytest.raises(DataError, match="table nope not found"):
        read(["table:nope"], store)
    run_sql(store, "CREATE TABLE odd (name TEXT)")
    with pytest.raises(DataError, match="needs site, question_id"):
        read(["table:odd"], store)
    with pytest.raises(InvalidInputError, match="not a plain SQL name"):
        read(["table:x; DROP TABLE jobs"], store)


def test_inputs_are_one_stream_with_consecutive_ordinals(tmp_path, csv_file, questions):
    first = csv_file(tmp_path / "a.csv", questions(3))
    second = csv_file(tmp_path / "b.csv", questions(2, site="wine"))
    rows = read([str(first), str(second)])
    assert [r.ordinal for r in rows] == [0, 1, 2, 3, 4] and rows[3].site == "wine"


def test_the_fingerprint_changes_when_an_input_file_changes(tmp_path, csv_file, questions):
    path = csv_file(tmp_path / "a.csv", questions(3))
    before = inputs_fingerprint(parse_inputs([str(path)]), None)
    csv_file(path, questions(4))
    assert inputs_fingerprint(parse_inputs([str(path)]), None) != before


@pytest.mark.parametrize("spec, error, fragment", [
    ("missing.csv", DataError, "does not exist"),
    ("table:", InvalidInputError, "needs a table name"),
])
def test_bad_input_specs_say_what_to_pass(spec, error, fragment):
    with pytest.raises(error, match=fragment):
        parse_inputs([spec])


def test_no_inputs_is_refused():
    with pytest.raises(InvalidInputError, match="--input"):
        parse_inputs([])


@pytest.mark.parametrize("raw_id", ["9223372036854775808", "99999999999999999999999", "-1"])
def test_a_csv_id_no_store_can_hold_is_a_reject_not_the_end_of_the_job(tmp_path, raw_id):
    path = tmp_path / "q.csv"
    path.write_text(f"site,question_id,title,body\nbeer,1,a,b\nbeer,{raw_id},big,b\nbeer,9223372036854775807,max,b\n",
                    encoding="utf-8")
    rows = read([str(path)])
    assert [type(r).__name__ for r in rows] == ["InputRow", "RejectRecord", "InputRow"]
    assert rows[1].question_id is None and "out of range" in rows[1].reason and "9223372036854775807" in rows[1].reason
    assert rows[2].question_id == 2**63 - 1


def test_a_parquet_id_beyond_64_bits_is_a_reject(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"site": ["beer", "beer"], "question_id": pa.array([2**64 - 1, 5], pa.uint64()),
                      "title": ["t", "u"], "body": ["b", "b"]})
    pq.write_table(table, tmp_path / "q.parquet")
    rows = read([str(tmp_path / "q.parquet")])
    assert isinstance(rows[0], RejectRecord) and "out of range" in rows[0].reason
    assert isinstance(rows[1], InputRow) and rows[1].question_id == 5


@SQL_TABLES_ONLY
def test_a_table_id_beyond_64_bits_is_a_reject(store, run_sql):
    run_sql(store, "CREATE TABLE big (site TEXT, question_id REAL, title TEXT, body TEXT)")
    run_sql(store, "INSERT INTO big VALUES (?, ?, ?, ?)", [("beer", 1e20, "t", "b"), ("beer", 2.0, "u", "b")])
    rows = read(["table:big"], store)
    assert [(type(r).__name__, r.question_id) for r in rows] == [("InputRow", 2), ("RejectRecord", None)]
    assert "out of range" in rows[1].reason


def test_a_dump_id_beyond_64_bits_is_a_reject(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    row = '<row Id="{}" PostTypeId="1" CreationDate="2015-01-01T00:00:00.000" Score="1" Title="t" Body="b" />'
    (folder / "Posts.xml").write_text(
        f"<posts>{row.format('99999999999999999999')}{row.format('-4')}{row.format('7')}</posts>", encoding="utf-8")
    rows = read([str(folder)])
    assert [(type(r).__name__, r.question_id) for r in rows] == [
        ("RejectRecord", None), ("RejectRecord", None), ("InputRow", 7)]
    assert "out of range" in rows[0].reason and "negative" in rows[1].reason


def test_an_unterminated_quote_that_runs_to_the_end_is_a_reject_naming_the_lines(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('site,question_id,title,body\nbeer,1,ok,b\nbeer,2,"never closed,b\nbeer,3,x,b\nbeer,4,y,b\n',
                    encoding="utf-8")
    rows = read([str(path)])
    assert [type(r).__name__ for r in rows] == ["InputRow", "RejectRecord"]
    assert rows[1].source == f"{path} line 3"
    assert "lines 3-5 were read as one row" in rows[1].reason and "never closed" in rows[1].reason


def test_an_unterminated_quote_closed_by_a_later_quote_is_a_reject_and_reading_goes_on(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('site,question_id,title,body\nbeer,1,"unterminated,b\nbeer,2,x,b\nbeer,3,"quoted",b\n'
                    'beer,4,y,b\n', encoding="utf-8")
    rows = read([str(path)])
    assert [type(r).__name__ for r in rows] == ["RejectRecord", "InputRow"]
    assert "lines 2-4 were read as one row" in rows[0].reason
    assert rows[1].question_id == 4 and rows[1].source == f"{path} line 5"


def test_quoted_fields_spanning_lines_are_still_one_row(tmp_path, csv_file):
    path = csv_file(tmp_path / "q.csv", [{"site": "beer", "question_id": 1, "title": 'He said "hi"',
                                          "body": "line one\nbeer,2,looks,like a row\n\nend"},
                                         {"site": "beer", "question_id": 3, "title": "t", "body": "b"}])
    rows = read([str(path)])
    assert [(r.question_id, r.source.rsplit(" ", 1)[1]) for r in rows] == [(1, "2"), (3, "6")]
    assert rows[0].title == 'He said "hi"' and rows[0].body.startswith("line one\nbeer,2")
