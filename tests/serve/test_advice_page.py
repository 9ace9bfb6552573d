"""`/advice`: the last advice report, read from disk on each request, under a policy for inline styles only."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleditor.serve.advice_page import REPORT_ENV, advice_report_path

REPORT = '<!DOCTYPE html><html><head><style>h1{color:red}</style></head><body><h1>Which door?</h1><svg></svg></body></html>'


@pytest.fixture
def report(tmp_path, monkeypatch) -> Path:
    """Where the app made in the test looks for the report (nothing is written there yet)."""
    path = tmp_path / "advice" / "last.html"
    monkeypatch.setenv(REPORT_ENV, str(path))
    return path


@pytest.mark.anyio
async def test_the_last_report_is_served_as_written_with_inline_styles_allowed_and_no_script(make_client, report):
    report.parent.mkdir()
    report.write_text(REPORT, encoding="utf-8")
    async with make_client() as client:
        answer = await client.get("/advice")
    assert answer.status_code == 200 and answer.text == REPORT
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "style-src 'unsafe-inline'" in policy and "script-src 'none'" in policy and "default-src 'none'" in policy
    assert answer.headers["cache-control"] == "no-store" and answer.headers["x-frame-options"] == "DENY"


@pytest.mark.anyio
async def test_a_new_run_s_report_is_served_without_restarting_the_server(make_client, report):
    report.parent.mkdir()
    async with make_client() as client:
        before = await client.get("/advice")
        report.write_text(REPORT, encoding="utf-8")
        after = await client.get("/advice")
        report.write_text(REPORT.replace("Which door?", "Run two"), encoding="utf-8")
        again = await client.get("/advice")
    assert before.status_code == 404 and after.status_code == 200 and "Run two" in again.text


@pytest.mark.anyio
async def test_without_a_report_the_answer_is_404_naming_the_command_in_json_or_html(make_client, report):
    async with make_client() as client:
        as_json = await client.get("/advice")
        as_page = await client.get("/advice", headers={"Accept": "text/html,application/xhtml+xml"})
    assert as_json.status_code == 404 and as_json.json()["error"]["kind"] == "not_found"
    assert "mleditor advise --report" in as_json.json()["error"]["message"]
    assert as_page.status_code == 404 and as_page.headers["content-type"].startswith("text/html")
    assert "mleditor advise --report" in as_page.text


@pytest.mark.anyio
async def test_with_operator_endpoints_closed_the_report_needs_an_ops_key(make_client, report):
    report.parent.mkdir()
    report.write_text(REPORT, encoding="utf-8")
    async with make_client(operator_access="key") as client:
        anonymous = await client.get("/advice")
    assert anonymous.status_code == 401


def test_the_report_path_is_the_variable_else_beside_the_advisor_s_last_json(tmp_path):
    assert advice_report_path({REPORT_ENV: "~/r.html", "MLEDITOR_HOME": str(tmp_path)}) == Path("~/r.html").expanduser()
    assert advice_report_path({"MLEDITOR_HOME": str(tmp_path)}) == tmp_path / "advice" / "last.html"
    assert advice_report_path({}) == Path("~/.cache/mleditor/advice/last.html").expanduser()



def test_the_server_looks_in_the_folder_where_the_advisor_saves_the_last_advice(tmp_path):
    from mleditor.advise.advice import last_advice_path

    for environ in ({}, {"MLEDITOR_HOME": str(tmp_path)}):
        assert advice_report_path(environ).parent == last_advice_path(environ).parent
