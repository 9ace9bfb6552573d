"""Nightly batch runs without a scheduler daemon of our own: generated systemd timer units or a crontab line.

The operating system's scheduler already restarts, logs and catches up after downtime
(`Persistent=true`); `mleditor batch run` is resumable and incremental, so a run that was killed
simply continues the next night, and an unchanged question costs a hash lookup, not a model call.

The generated command uses absolute paths (this Python, the inputs, a SQLite file) because a
timer does not run in your shell's folder. Keep a PostgreSQL password out of the URL: libpq reads
`PGPASSWORD` or `~/.pgpass`.

Every value written into a unit or the crontab line is one line of printable text: a newline (or
any control character) in an argument would become a directive or a command of its own, so it is
refused, as are inputs and model directories that do not exist (a nightly run would only fail).
"""

from __future__ import annotations

import hashlib
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from mleditor.batch.inputs import parse_inputs
from mleditor.core.registry import resolve_model
from mleditor.errors import InvalidInputError

FORMATS = ("systemd", "cron")
UNIT_NAME = "mleditor-batch"
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class ScheduleSpec:
    """What the nightly run does and when."""

    inputs: tuple[str, ...]
    store_url: str
    at: str = "02:00"  # HH:MM, the machine's local time
    version: str = "v3"
    model: str | None = None
    workers: int = 0


def batch_command(spec: ScheduleSpec, python: str = sys.executable) -> list[str]:
    """The `mleditor batch run` argv the schedule runs, with every path made absolute and checked."""
    if not spec.inputs:
        raise InvalidInputError("a schedule needs at least one --input")
    for name, value in [("--input", item) for item in spec.inputs] + [("--store", spec.store_url),
                                                                        ("--model-dir", spec.model or "")]:
        _check_one_line(name, value)
    parse_inputs(spec.inputs)  # the checks `batch run` makes: DataError for an input that does not exist
    argv = [python, "-m", "mleditor", "batch", "run"]
    for item in spec.inputs:
        argv += ["--input", item if item.startswith("table:") else str(Path(item).expanduser().resolve())]
    argv += ["--store", _absolute_store(spec.store_url), "--model", spec.version]
    if spec.model:
        argv += ["--model-dir", str(resolve_model(spec.model).path.resolve())]  # ModelError when there is none
    if spec.workers:
        argv += ["--workers", str(spec.workers)]
    for position, arg in enumerate(argv):  # resolving may add the working folder or a link's target
        _check_one_line(argv[position - 1] if position and argv[position - 1].startswith("--") else "argument", arg)
    return argv


def render_schedule(spec: ScheduleSpec, kind: str = "systemd") -> dict[str, str]:
    """File name → content: `mleditor-batch.service` + `.timer`, or `mleditor-batch.cron`."""
    if kind not in FORMATS:
        raise InvalidInputError(f"unknown schedule format {kind!r}; choose one of {', '.join(FORMATS)}")
    hour, minute = parse_time(spec.at)
    _check_one_line("the working folder", str(Path.cwd()))
    argv = batch_command(spec)
    if kind == "systemd":
        return {f"{UNIT_NAME}.service": _service(argv), f"{UNIT_NAME}.timer": _timer(hour, minute)}
    return {f"{UNIT_NAME}.cron": _cron(argv, hour, minute)}


def parse_time(at: str) -> tuple[int, int]:
    match = _TIME.fullmatch(at.strip())
    if not match:
        raise InvalidInputError(f"--at {at!r} is not a time of day; use HH:MM, e.g. 02:00")
    return int(match.group(1)), int(match.group(2))


# Control characters (a newline would start a new directive or crontab line), Unicode line and paragraph
# separators, and lone surrogates (a file name that is not UTF-8: the unit could not be written).
_NOT_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _check_one_line(what: str, value: str) -> None:
    """InvalidInputError unless `value` is one line of printable text a unit file or crontab line can carry."""
    found = _NOT_ONE_LINE.search(value)
    if found is not None:
        raise InvalidInputError(
            f"{what} {value[:80]!r} contains the character {found.group()!r}, which a systemd unit or crontab "
            "line cannot carry (it would end the line); rename or move the file, or fix the value"
        )


def _absolute_store(url: str) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return "sqlite:///" + str(Path(url.removeprefix("sqlite:///")).expanduser().resolve())
    return url


def _service(argv: list[str]) -> str:
    return (
        "[Unit]\n"
        "Description=ML Editor nightly batch predictions (mleditor batch run)\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={Path.cwd()}\n"
        f"ExecStart={' '.join(_systemd_quote(arg) for arg in argv)}\n"
        "Nice=10\n"
        "# A killed run is resumed by the next one; there is nothing to clean up.\n"
    )


def _timer(hour: int, minute: int) -> str:
    return (
        "[Unit]\n"
        f"Description=Run {UNIT_NAME}.service every day at {hour:02d}:{minute:02d}\n\n"
        "[Timer]\n"
        f"OnCalendar=*-*-* {hour:02d}:{minute:02d}:00\n"
        "Persistent=true\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
        f"# Install: copy both files to ~/.config/systemd/user/ (or /etc/systemd/system/), then\n"
        f"#   systemctl --user daemon-reload && systemctl --user enable --now {UNIT_NAME}.timer\n"
    )


def _cron(argv: list[str], hour: int, minute: int) -> str:
    # flock: a run still going at the next start time is left alone instead of doubled.
    lock = f"/tmp/{UNIT_NAME}-{hashlib.sha256(' '.join(argv).encode()).hexdigest()[:12]}.lock"
    log = Path.cwd() / f"{UNIT_NAME}.log"
    command = f"cd {shlex.quote(str(Path.cwd()))} && flock -n {lock} {shlex.join(argv)} >> {shlex.quote(str(log))} 2>&1"
    return (
        f"# ML Editor nightly batch predictions; install with: (crontab -l; cat {UNIT_NAME}.cron) | crontab -\n"
        f"{minute} {hour} * * * {command.replace('%', chr(92) + '%')}\n"
    )


def _systemd_quote(arg: str) -> str:
    """One ExecStart argument: % and $ escaped, quoted when it holds spaces or quotes."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
