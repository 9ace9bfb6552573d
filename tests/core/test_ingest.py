"""Reading Stack Exchange dumps: every question kept, every problem reported, memory flat."""

from __future__ import annotations

import importlib.util
import shutil
import threading
import tracemalloc
from pathlib import Path

import pytest

from mleditor.core.dataset import read_dataset
from mleditor.core.ingest import DumpWarning, ingest_dumps, iter_dump_questions
from mleditor.core.records import HtmlSignals
from mleditor.errors import DataError, InvalidInputError, MissingExtraError

# Hand-written dumps, one file per case. They are not named Posts.xml in the repo (that name
# is kept for real data, which must never be committed); `site_dump` lays one out as a site.
DUMPS = Path(__file__).parents[1] / "fixtures" / "dumps"

# Question counts of the real dumps, from the data README.
REAL_SITE_QUESTIONS = {
    "beer": 663, "matheducators": 397, "meta-a": 556, "3dprinting-meta": 158, "datascience-meta": 257,
    "ai": 421, "quantumcomputing": 612, "bicycles-meta": 453, "french-meta": 274,
}


@pytest.fixture
def site_dump(tmp_path):
    """Copy a fixture to <tmp>/<name>/Posts.xml, the layout of a real site's dump; return the folder."""

    def lay_out(name: str) -> Path:
        folder = tmp_path / "dumps" / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DUMPS / f"{name}.xml", folder / "Posts.xml")
        return folder

    return lay_out


def read_all(path: Path, **kwargs) -> list:
    return list(iter_dump_questions(path, **kwargs))


def seven_zip(tmp_path: Path, name: str, members: dict[str, bytes]) -> Path:
    py7zr = pytest.importorskip("py7zr")
    archive = tmp_path / name
    with py7zr.SevenZipFile(archive, "w") as writer:
        for member, data in members.items():
            writer.writestr(data, member)
    return archive


def test_questions_are_read_with_every_field_and_answers_left_out(site_dump):
    questions = read_all(site_dump("tiny-site"))
    assert [q.id for q in questions] == [1, 4, 6]
    first = questions[0]
    assert first.site == "tiny-site"
    assert first.title == "Why does my stout taste sour? 🍺"
    assert first.score == 12
    assert first.creation_date == "2015-02-01T10:00:00.000"
    assert (first.owner_id, first.owner_name) == (7, None)
    assert first.tags == ("brewing", "stout")
    assert (first.answer_count, first.view_count, first.accepted_answer_id, first.closed_date) == (2, 345, 3, None)


def test_body_html_is_converted_with_its_signals(site_dump):
    first = read_all(site_dump("tiny-site"))[0]
    assert "```\nmalt: 5 kg\nhops < 30 g\n```" in first.body
    assert "[this (old) guide](https://example.org/stout%20guide)" in first.body
    assert first.signals == HtmlSignals(code_blocks=1, links=1, images=0, list_items=0, paragraphs=2)


def test_negative_score_closed_date_and_unicode_are_kept(site_dump):
    question = read_all(site_dump("tiny-site"))[1]
    assert question.score == -3
    assert question.closed_date == "2015-03-07T12:00:00.000"
    assert question.title == "Quelle bière pour l'été ?"
    assert "日本のビールは？" in question.body
    assert question.tags == ("style", "français")


def test_missing_owner_id_keeps_the_display_name_for_author_splits(site_dump):
    deleted_user, anonymous = read_all(site_dump("tiny-site"))[1:]
    assert (deleted_user.owner_id, deleted_user.owner_name) == (None, "Ancien Membre")
    assert deleted_user.author_key == "tiny-site:name:Ancien Membre"
    assert anonymous.author_key == "tiny-site:post:6"


def test_tags_are_read_in_both_dump_syntaxes(site_dump):
    assert [q.tags for q in read_all(site_dump("pipe-tags"))] == [
        ("feature-request", "status-completed"), ("discussion", "scope"), (),
    ]


def test_utf8_byte_order_mark_and_crlf_line_ends_are_accepted(site_dump):
    assert (DUMPS / "bom-crlf.xml").read_bytes().startswith(b"\xef\xbb\xbf<?xml")  # the fixture must keep its BOM
    path = site_dump("bom-crlf") / "Posts.xml"
    assert [q.title for q in read_all(path)] == ["Does the BOM break parsing?"]


def test_site_is_the_folder_name_unless_given(site_dump):
    assert read_all(site_dump("pipe-tags") / "Posts.xml")[0].site == "pipe-tags"
    assert read_all(site_dump("pipe-tags"), site="meta.example")[0].site == "meta.example"


def test_truncated_dump_raises_one_line_error_with_position_and_count(site_dump):
    with pytest.raises(DataError) as raised:
        read_all(site_dump("truncated"))
    message = str(raised.value)
    assert "\n" not in message
    assert str(site_dump("truncated") / "Posts.xml") in message
    assert "line 6, column 2" in message
    assert "after 2 questions" in message
    assert "pass --allow-truncated to keep them" in message


def test_allow_truncated_keeps_the_questions_before_the_break_and_warns(site_dump):
    warnings: list[str] = []
    questions = read_all(site_dump("truncated"), allow_truncated=True, on_warning=warnings.append)
    assert [q.id for q in questions] == [1, 3]
    assert len(warnings) == 1 and "line 6, column 2" in warnings[0]


def test_malformed_row_raises_error_naming_line_and_column(site_dump):
    with pytest.raises(DataError, match=r"line 4, column \d+ .*after 1 question;"):
        read_all(site_dump("malformed"))


def test_unusable_rows_are_reported_one_by_one_not_dropped_silently(site_dump):
    warnings: list[str] = []
    questions = read_all(site_dump("unusable-rows"), on_warning=warnings.append)
    assert [q.id for q in questions] == [23]
    assert [w.split(": ", 1)[1] for w in warnings] == [
        "row Id=? skipped: missing Id",
        "row Id=21 skipped: Score 'lots' is not an integer",
        "row Id=22 skipped: missing Title",
    ]


def test_unusable_rows_raise_python_warnings_when_no_callback_is_given(site_dump):
    with pytest.warns(DumpWarning, match="skipped"):
        read_all(site_dump("unusable-rows"))


def test_missing_path_raises_data_error_saying_what_is_expected(tmp_path):
    with pytest.raises(DataError, match=r"no Posts.xml at .*; expected a Posts.xml file, a folder containing one, or a .7z dump"):
        iter_dump_questions(tmp_path / "nowhere")


def test_folder_without_posts_xml_raises_data_error(tmp_path):
    with pytest.raises(DataError, match=r"no Posts.xml at"):
        iter_dump_questions(tmp_path)


def test_7z_dump_is_streamed_and_named_after_the_archive(tmp_path):
    posts = (DUMPS / "tiny-site.xml").read_bytes()
    archive = seven_zip(tmp_path, "beer.stackexchange.com.7z", {"Badges.xml": b"<badges/>", "Posts.xml": posts})
    questions = read_all(archive)
    assert [q.id for q in questions] == [1, 4, 6]
    assert {q.site for q in questions} == {"beer.stackexchange.com"}
    assert not (tmp_path / "Posts.xml").exists()  # nothing extracted next to the archive


def test_truncated_posts_inside_a_7z_are_reported_like_a_plain_file(tmp_path):
    posts = (DUMPS / "truncated.xml").read_bytes()
    archive = seven_zip(tmp_path, "cut.7z", {"Posts.xml": posts})
    with pytest.raises(DataError, match=r"cut.7z:Posts.xml: .*line 6, column 2"):
        read_all(archive)


def test_stopping_early_leaves_no_decompressing_thread_behind(tmp_path):
    posts = (DUMPS / "tiny-site.xml").read_bytes()
    archive = seven_zip(tmp_path, "site.7z", {"Posts.xml": posts})
    before = threading.active_count()
    questions = iter_dump_questions(archive)
    next(questions)
    questions.close()
    assert threading.active_count() == before


def test_7z_without_posts_xml_raises_data_error(tmp_path):
    archive = seven_zip(tmp_path, "users-only.7z", {"Users.xml": b"<users/>"})
    with pytest.raises(DataError, match=r"no Posts.xml inside"):
        iter_dump_questions(archive)


def test_file_that_is_not_a_7z_archive_raises_data_error(tmp_path):
    fake = tmp_path / "fake.7z"
    fake.write_bytes(b"not an archive at all")
    with pytest.raises(DataError, match=r"not a readable .7z archive"):
        iter_dump_questions(fake)


def test_7z_without_py7zr_installed_names_the_extra(tmp_path, monkeypatch):
    fake = tmp_path / "site.7z"
    fake.write_bytes(b"7z")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "py7zr" else real_find_spec(name, *a))
    with pytest.raises(MissingExtraError, match=r"mleditor\[archives\]"):
        iter_dump_questions(fake)


def test_memory_stays_flat_while_streaming_a_large_dump(tmp_path):
    path = tmp_path / "big" / "Posts.xml"
    path.parent.mkdir()
    row = (
        '  <row Id="{i}" PostTypeId="{kind}" CreationDate="2020-01-01T00:00:00.000" Score="1" '
        'Body="&lt;p&gt;Body number {i} with a few words of text.&lt;/p&gt;" Title="Question {i}" '
        'Tags="&lt;t&gt;" />\n'
    )
    with open(path, "w", encoding="utf-8") as file:
        file.write('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n')
        file.writelines(row.format(i=i, kind=1 if i % 2 else 2) for i in range(20_000))
        file.write("</posts>\n")
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_dump_questions(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 10_000
    assert path.stat().st_size > 3_000_000
    assert peak < 2_000_000


def test_ingest_writes_every_dump_and_reports_each_file(tmp_path, site_dump):
    output = tmp_path / "data.sqlite"
    summary = ingest_dumps([site_dump("tiny-site"), site_dump("pipe-tags")], output)
    assert summary.questions_per_site == {"tiny-site": 3, "pipe-tags": 3}
    assert summary.skipped == 0
    assert [(f["site"], f["questions"], len(f["sha256"])) for f in summary.files] == [
        ("tiny-site", 3, 64), ("pipe-tags", 3, 64),
    ]
    assert [(q.site, q.id) for q in read_dataset(output)] == [
        ("pipe-tags", 10), ("pipe-tags", 11), ("pipe-tags", 12), ("tiny-site", 1), ("tiny-site", 4), ("tiny-site", 6),
    ]


def test_reingesting_a_site_replaces_its_rows_without_duplicates(tmp_path, site_dump):
    output = tmp_path / "data.sqlite"
    ingest_dumps([site_dump("tiny-site")], output)
    ingest_dumps([site_dump("tiny-site")], output)
    assert len(read_dataset(output)) == 3


def test_skipped_rows_are_counted_in_the_summary(tmp_path, site_dump):
    summary = ingest_dumps([site_dump("unusable-rows")], tmp_path / "data.sqlite", on_warning=lambda _: None)
    assert (summary.questions_per_site, summary.skipped) == ({"unusable-rows": 1}, 3)


def test_failed_dump_leaves_its_site_as_it_was(tmp_path, site_dump):
    output = tmp_path / "data.sqlite"
    ingest_dumps([site_dump("truncated")], output, allow_truncated=True, on_warning=lambda _: None)
    with pytest.raises(DataError):
        ingest_dumps([site_dump("truncated")], output)
    assert [q.id for q in read_dataset(output)] == [1, 3]


def test_every_path_is_checked_before_anything_is_written(tmp_path, site_dump):
    output = tmp_path / "data.sqlite"
    with pytest.raises(DataError, match=r"no Posts.xml at"):
        ingest_dumps([site_dump("tiny-site"), tmp_path / "typo"], output)
    assert not output.exists()


def test_ingest_without_paths_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="no dumps given"):
        ingest_dumps([], tmp_path / "data.sqlite")


def test_progress_reports_the_running_total(tmp_path, site_dump):
    seen: list[int] = []
    ingest_dumps([site_dump("tiny-site"), site_dump("pipe-tags")], tmp_path / "data.sqlite", on_progress=seen.append)
    assert seen == [3, 6]


@pytest.mark.data
def test_every_real_site_ingests_with_the_documented_question_counts(real_data_dir, tmp_path):
    sites = sorted(path for path in real_data_dir.iterdir() if (path / "Posts.xml").is_file())
    summary = ingest_dumps(sites, tmp_path / "real.sqlite")
    assert summary.questions_per_site == REAL_SITE_QUESTIONS
    assert summary.skipped == 0


_ROW = '<row Id="{id}" PostTypeId="1" CreationDate="2015-01-01T00:00:00.000" Score="1" Title="{title}" Body="b" />'
_LAUGHS = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
DANGEROUS_DUMPS = {
    "xxe in content": '<!DOCTYPE posts [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><posts><row Id="1">&xxe;</row>'
                      "</posts>",
    "xxe in an attribute": '<!DOCTYPE posts [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><posts>'
                           + _ROW.format(id=1, title="&xxe;") + "</posts>",
    "billion laughs": f'<!DOCTYPE posts [<!ENTITY lol0 "lol">{_LAUGHS}]><posts>'
                      + _ROW.format(id=1, title="&lol9;") + "</posts>",
    "a harmless entity": '<!DOCTYPE posts [<!ENTITY a "hello">]><posts>' + _ROW.format(id=1, title="&a;")
                         + "</posts>",
}


@pytest.mark.parametrize("allow_truncated", [False, True])
@pytest.mark.parametrize("name", list(DANGEROUS_DUMPS))
def test_a_dump_declaring_entities_is_refused_for_safety_without_truncation_advice(tmp_path, name, allow_truncated):
    path = tmp_path / "Posts.xml"
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n' + DANGEROUS_DUMPS[name], encoding="utf-8")
    with pytest.raises(DataError, match="refused for safety") as caught:
        list(iter_dump_questions(path, allow_truncated=allow_truncated, on_warning=lambda message: None))
    assert "--allow-truncated" not in str(caught.value) and "\n" not in str(caught.value)


def test_an_external_dtd_named_by_older_dumps_is_not_loaded_and_not_refused(tmp_path):
    path = tmp_path / "Posts.xml"
    path.write_text("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!DOCTYPE posts SYSTEM 'posts.dtd'>\n<posts>"
                    + _ROW.format(id=3, title="Kept") + "</posts>", encoding="utf-8")
    assert [(q.id, q.title) for q in iter_dump_questions(path)] == [(3, "Kept")]


def test_ids_and_scores_beyond_64_bits_skip_the_row_and_ingest_goes_on(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    rows = _ROW.format(id="99999999999999999999", title="a") + _ROW.format(id=2, title="b")
    rows += _ROW.format(id=3, title="c").replace('Score="1"', 'Score="-99999999999999999999"')
    rows += _ROW.format(id=4, title="d").replace('Score="1"', 'Score="1" OwnerUserId="99999999999999999999"')
    (folder / "Posts.xml").write_text(f"<posts>{rows}</posts>", encoding="utf-8")
    warnings: list[str] = []
    summary = ingest_dumps([folder], tmp_path / "out.db", on_warning=warnings.append)
    assert summary.questions_per_site == {"big": 2} and summary.skipped == 2
    assert any("Id 99999999999999999999 is out of range" in w for w in warnings)
    assert {q.id: q.owner_id for q in read_dataset(tmp_path / "out.db")} == {2: None, 4: None}


def _dump(folder: Path, rows: list[tuple[int, str, int, str]]) -> Path:
    """A site folder whose Posts.xml holds questions (id, creation date, score, title)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f'  <row Id="{i}" PostTypeId="1" CreationDate="{date}" Score="{score}" Body="&lt;p&gt;Body {i}.&lt;/p&gt;" '
             f'OwnerUserId="{i % 3}" Title="{title}" Tags="&lt;t&gt;" AnswerCount="0" />' for i, date, score, title in rows]
    (folder / "Posts.xml").write_text('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(lines)
                                      + "\n</posts>\n", encoding="utf-8")
    return folder


def test_two_dumps_of_one_site_give_each_question_once_with_the_later_values(tmp_path):
    early = [(i, f"2015-01-{i:02d}T10:00:00.000", 1, f"Question {i}") for i in range(1, 13)]
    late = [(i, f"2015-01-{i:02d}T10:00:00.000", 10 + i, f"Question {i} (edited)") for i in range(2, 13)]
    late += [(20, "2019-06-01T10:00:00.000", 5, "A new question")]
    other = [(i, f"2016-03-{i:02d}T10:00:00.000", 2, f"Other {i}") for i in range(1, 13)]  # same ids, other site
    folders = [_dump(tmp_path / "a" / "beer", early), _dump(tmp_path / "b" / "beer-2020", late),
               _dump(tmp_path / "a" / "meta", other)]
    summary = ingest_dumps(folders, tmp_path / "d.sqlite")
    records = read_dataset(tmp_path / "d.sqlite")
    beer = {r.id: r for r in records if r.site == "beer"}
    assert sorted(beer) == [*range(1, 13), 20] and len([r for r in records if r.site == "beer"]) == 13
    assert beer[1].score == 1 and beer[5].score == 15 and beer[5].title == "Question 5 (edited)" and beer[20].score == 5
    assert {r.site for r in records} == {"beer", "meta"} and sum(r.site == "meta" for r in records) == 12
    (merge,) = summary.merged
    assert (merge.site, merge.later, merge.shared, merge.only_earlier, merge.only_later) == ("beer", "beer-2020", 11,
                                                                                            1, 1)
    assert summary.questions_per_site == {"beer": 13, "meta": 12}


@pytest.mark.data
def test_every_real_dump_together_gives_each_question_once(tmp_path, real_dump_dirs):
    summary = ingest_dumps(real_dump_dirs, tmp_path / "all.sqlite")
    records = read_dataset(tmp_path / "all.sqlite")
    assert len({(r.site, r.id) for r in records}) == len(records) == sum(summary.questions_per_site.values())
    merged = {(m.site, m.later) for m in summary.merged}
    if {p.name for p in real_dump_dirs} >= {"ai", "ai-2017", "beer", "beer-2020"}:
        assert merged == {("ai", "ai-2017"), ("beer", "beer-2020")}
        assert len(records) == 6476 and len(summary.questions_per_site) == 15  # the data README's totals
