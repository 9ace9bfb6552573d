"""Scheduling: the generated systemd units and crontab line are valid and run a working batch job."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mleditor.batch.schedule import ScheduleSpec, batch_command, parse_time, render_schedule
from mleditor.errors import DataError, InvalidInputError, ModelError
from mleditor.stores.predictions.factory import open_store


def exec_start(service: str) -> list[str]:
    line = next(line for line in service.splitlines() if line.startswith("ExecStart="))
    return [arg.replace("%%", "%").replace("$$", "$") for arg in shlex.split(line.removeprefix("ExecStart="))]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """The test runs in tmp_path, which holds x.csv and a dump folder data/beer (a schedule's inputs must exist)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("site,question_id,title,body\n", encoding="utf-8")
    (tmp_path / "data" / "beer").mkdir(parents=True)
    (tmp_path / "data" / "beer" / "Posts.xml").write_text("<posts/>", encoding="utf-8")
    return tmp_path


def test_systemd_units_run_the_batch_command_daily_at_the_given_time(in_tmp):
    files = render_schedule(ScheduleSpec(("data/beer",), "sqlite:///p.db", at="3:07"), "systemd")
    assert set(files) == {"mleditor-batch.service", "mleditor-batch.timer"}
    assert "OnCalendar=*-*-* 03:07:00" in files["mleditor-batch.timer"]
    assert "Persistent=true" in files["mleditor-batch.timer"]
    argv = exec_start(files["mleditor-batch.service"])
    assert argv[:5] == [sys.executable, "-m", "mleditor", "batch", "run"]
    assert argv[argv.index("--input") + 1] == str(Path("data/beer").resolve())
    assert argv[argv.index("--store") + 1] == f"sqlite:///{Path('p.db').resolve()}"
    assert "Type=oneshot" in files["mleditor-batch.service"]


def test_the_cron_line_fires_daily_and_never_overlaps_itself(in_tmp):
    [text] = render_schedule(ScheduleSpec(("x.csv",), "postgresql://db/p", at="23:45"), "cron").values()
    line = next(line for line in text.splitlines() if not line.startswith("#"))
    assert line.startswith("45 23 * * * ")
    assert "flock -n " in line and "postgresql://db/p" in line


@pytest.mark.parametrize("at", ["24:00", "7", "noon", "12:60"])
def test_a_time_that_is_not_hh_mm_is_refused(at):
    with pytest.raises(InvalidInputError, match="HH:MM"):
        parse_time(at)


def test_an_unknown_format_is_refused():
    with pytest.raises(InvalidInputError, match="systemd, cron"):
        render_schedule(ScheduleSpec(("x.csv",), "sqlite:///p.db"), "launchd")


def test_systemd_quoting_survives_spaces_percent_and_dollar(tmp_path):
    odd = tmp_path / "my data 100%$"
    odd.mkdir()
    (odd / "Posts.xml").write_text("<posts/>", encoding="utf-8")
    files = render_schedule(ScheduleSpec((str(odd),), "sqlite:///p.db"), "systemd")
    assert str(odd) in exec_start(files["mleditor-batch.service"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_accepts_the_generated_units(tmp_path, in_tmp):
    for name, text in render_schedule(ScheduleSpec(("x.csv",), "sqlite:///p.db"), "systemd").items():
        (tmp_path / name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "mleditor-batch.service")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calendar = subprocess.run(["systemd-analyze", "calendar", "*-*-* 02:00:00"], capture_output=True, text=True)
    assert calendar.returncode == 0


@pytest.mark.skipif(shutil.which("flock") is None, reason="the cron line uses flock (util-linux)")
def test_the_scheduled_command_really_scores_the_inputs(tmp_path, csv_file, questions, monkeypatch):
    path = csv_file(tmp_path / "q.csv", questions(20))
    monkeypatch.chdir(tmp_path)
    spec = ScheduleSpec((path.name,), "sqlite:///nightly.db", workers=1)
    [text] = render_schedule(spec, "cron").values()
    command = text.splitlines()[-1].split(" ", 5)[5].replace("\\%", "%")
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = subprocess.run(["bash", "-c", command], cwd=other, capture_output=True, text=True, timeout=180,
                            env={**os.environ})
    assert result.returncode == 0, result.stderr
    with open_store(f"sqlite:///{tmp_path / 'nightly.db'}") as store:
        assert store.count_predictions() == 20
    assert exec_start(render_schedule(spec, "systemd")["mleditor-batch.service"]) == batch_command(spec)


def test_batch_schedule_writes_the_files(tmp_path, in_tmp):
    result = subprocess.run([sys.executable, "-m", "mleditor", "batch", "schedule", "-i", "x.csv", "--store",
                             "sqlite:///p.db", "--at", "04:30", "--output", str(tmp_path / "units")],
                            capture_output=True, text=True, timeout=120, cwd=in_tmp)
    assert result.returncode == 0, result.stderr
    assert "OnCalendar=*-*-* 04:30:00" in (tmp_path / "units" / "mleditor-batch.timer").read_text()


@pytest.mark.parametrize("kind", ["systemd", "cron"])
def test_a_newline_in_an_input_name_never_becomes_a_directive_or_a_command(tmp_path, kind):
    sneaky = tmp_path / "q.csv\nExecStartPre=/bin/touch /tmp/owned"
    sneaky.mkdir(parents=True)
    with pytest.raises(InvalidInputError, match=r"--input .*contains the character '\\n'"):
        render_schedule(ScheduleSpec((str(sneaky),), "sqlite:///p.db"), kind)


@pytest.mark.parametrize("field, value", [
    ("store_url", "sqlite:///p.db\nExecStartPre=/bin/sh -c id"),
    ("store_url", "postgresql://db/p\r* * * * * id"),
    ("model", "se15-v1\x00"),
    ("store_url", "sqlite:///p\u2028.db"),
])
def test_control_characters_in_any_scheduled_argument_are_refused(in_tmp, field, value):
    spec = ScheduleSpec(("x.csv",), **{"store_url": "sqlite:///p.db", field: value})
    for kind in ("systemd", "cron"):
        with pytest.raises(InvalidInputError, match="cannot carry"):
            render_schedule(spec, kind)


def test_a_working_folder_with_a_newline_is_refused(tmp_path, monkeypatch):
    odd = tmp_path / "run\nExecStartPre=id"
    odd.mkdir()
    (odd / "x.csv").write_text("site,question_id,title,body\n", encoding="utf-8")
    monkeypatch.chdir(odd)
    with pytest.raises(InvalidInputError, match="the working folder"):
        render_schedule(ScheduleSpec(("x.csv",), "sqlite:///p.db"), "systemd")


def test_a_schedule_refuses_inputs_and_models_that_do_not_exist(in_tmp):
    with pytest.raises(DataError, match=r"input missing\.csv does not exist"):
        render_schedule(ScheduleSpec(("x.csv", "missing.csv"), "sqlite:///p.db"), "systemd")
    with pytest.raises(ModelError, match="not found"):
        render_schedule(ScheduleSpec(("x.csv",), "sqlite:///p.db", model="no-such-model"), "cron")


def test_batch_schedule_with_a_missing_input_exits_3_and_writes_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mleditor", "batch", "schedule", "-i", "typo.csv", "--store",
                             "sqlite:///p.db", "--output", str(tmp_path / "units")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 3 and result.stderr.startswith("error: input typo.csv does not exist")
    assert not (tmp_path / "units").exists()
