"""`mleditor advise`: measure the doors here, in short bounded runs, and say which one the scenario calls for.

    mleditor advise                                   # the demo scenario, ~60 s of measurements
    mleditor advise --scenario plane --json           # a shipped scenario (or a TOML file), as JSON
    mleditor advise --offline --text-must-stay-on-device --network 3g --budget-s 30
    mleditor advise --replay docs/advice/demo.json --markdown   # render a recorded advice, measure nothing

Prints a table (door, status, what a user waits, cost, offline, where the text goes, complexity,
verdict) and the recommendation with its reasons; saves the advice as JSON where `mleditor serve`
finds it (`mleditor.advise.advice.last_advice_path`). Exit status 0 with a recommendation, 2 when the
constraints exclude every door (the advice says which to relax) or the input is bad.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from mleditor.cli.exit_codes import USAGE
from mleditor.cli.options import err, json_option, model_dir_option, out
from mleditor.errors import InvalidInputError, MissingExtraError


def advise_command(
    model_dir: Optional[str] = model_dir_option(),
    scenario: Optional[str] = typer.Option(None, "--scenario", help="A shipped scenario (demo, nightly-ranking, "
                                           "mostly-known, plane, private-text, per-author-style) or a TOML file."),
    qps: Optional[float] = typer.Option(None, "--qps", help="Peak predictions per second."),
    max_latency_ms: Optional[float] = typer.Option(None, "--max-latency-ms", help="The most a user may wait, p99."),
    offline: Optional[bool] = typer.Option(None, "--offline", help="No network while scoring."),
    text_on_device: Optional[bool] = typer.Option(None, "--text-must-stay-on-device",
                                                  help="The text must never leave the user's machine."),
    per_user: Optional[bool] = typer.Option(None, "--per-user-models", help="A model per author."),
    server_data: Optional[bool] = typer.Option(None, "--needs-server-data",
                                               help="The scores are needed on the server (stored, ranked, joined)."),
    known: Optional[float] = typer.Option(None, "--known-in-advance", help="Share of questions known ahead, 0-1."),
    repeat_rate: Optional[float] = typer.Option(None, "--repeat-rate", help="Share of the others asked before, 0-1."),
    read_later: Optional[bool] = typer.Option(None, "--read-later", help="The answers are read hours later."),
    network: Optional[str] = typer.Option(None, "--network", help="lan, 4g, 3g or RTT_MS/MBPS (e.g. 80/5)."),
    price_vcpu_hour: Optional[float] = typer.Option(None, "--price-vcpu-hour", help="USD per vCPU-hour."),
    price_egress_gb: Optional[float] = typer.Option(None, "--price-egress-gb", help="USD per GB sent."),
    budget_s: Optional[float] = typer.Option(None, "--budget-s", help="Seconds for all measurements (default 60)."),
    as_json: bool = json_option("Print the advice as JSON (the report's input)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print the advice as Markdown (the README's section)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write the advice as an HTML report here."),
    replay: Optional[Path] = typer.Option(None, "--replay", help="Render a saved advice JSON instead of measuring."),
) -> int:
    """Measure each door briefly here and recommend the simplest one that meets the scenario's constraints."""
    from mleditor.advise.advice import advise, save_advice
    from mleditor.advise.scenario import MIN_BUDGET_S, load_scenario

    if replay is not None:
        advice = read_advice(replay)
    else:
        chosen = load_scenario(scenario).with_overrides(
            qps=qps, max_latency_ms=max_latency_ms, offline=offline, text_must_stay_on_device=text_on_device,
            per_user_models=per_user, needs_server_data=server_data, known_in_advance=known,
            repeat_rate=repeat_rate, read_later=read_later, network=network, price_vcpu_hour=price_vcpu_hour,
            price_egress_gb=price_egress_gb, budget_s=budget_s)
        if chosen.budget_s < MIN_BUDGET_S:
            raise InvalidInputError(f"--budget-s {chosen.budget_s:g} is too small to measure anything: the streaming "
                                    f"server alone needs a few seconds to start; give at least {MIN_BUDGET_S:g}")
        quiet = as_json or markdown
        advice = advise(chosen, model_dir, shlex.join(["mleditor", *sys.argv[1:]]),
                        on_progress=None if quiet else lambda line: err.print(line, markup=False, highlight=False))
        saved = save_advice(advice)
        page = saved.with_name("last.html")  # what `mleditor serve` shows at /advice
        shown = write_report(advice, page, quiet=True)
        if not quiet:
            err.print(f"advice saved to {saved}" + (f" and {page} (served at /advice)" if shown else ""),
                      markup=False, highlight=False, soft_wrap=True)
    show(advice, as_json, markdown)
    if report is not None:
        write_report(advice, report)
    return 0 if advice.get("recommendation") else USAGE


def read_advice(path: Path) -> dict[str, Any]:
    try:
        advice: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"--replay {path}: cannot be read as advice JSON: {exc}") from None
    if not isinstance(advice, dict) or advice.get("schema") != "mleditor-advice/1":
        raise InvalidInputError(f"--replay {path}: not an advice (expected schema 'mleditor-advice/1')")
    return advice


def show(advice: dict[str, Any], as_json: bool, markdown: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(advice, indent=1) + "\n")
    elif markdown:
        from mleditor.advise.markdown import render_markdown

        sys.stdout.write(render_markdown(advice))
    else:
        print_advice(advice)


def print_advice(advice: dict[str, Any]) -> None:
    """The table and the recommendation with its reasons."""
    from mleditor.advise.markdown import cell_cost, cell_latency, verdict

    def short(door: dict[str, Any]) -> str:  # the table names the constraint; the reasons below say why
        if not door["meets"]:
            return f"excluded: {door['excluded_by'][0].split(':')[0]}"
        return verdict(door, advice).split(" (")[0] + (" (not measured)" if door["status"] != "measured" else "")

    scenario = advice["scenario"]
    table = Table("door", "status", "user latency p50 / p99", "cost per million / month", "offline?",
                  "where the text goes", "complexity", "verdict",
                  title=f"scenario {scenario['name']}: {scenario['qps']:g} req/s peak, ≤ {scenario['max_latency_ms']:g}"
                        f" ms, network {scenario['network']['name']}")
    for door in advice["doors"]:
        status = door["status"] if door["status"] == "measured" and not door.get("partial") else (
            "measured in part" if door["status"] == "measured" else "not measured")
        table.add_row(door["door"], status, cell_latency(door), cell_cost(door),
                      "yes" if door["network"]["works_offline"] else "no", door["privacy"]["text_goes"],
                      str(door["complexity"]["score"]), short(door))
    out.print(table)
    best = advice.get("recommendation")
    if best is None:
        out.print(f"No door: {advice['no_door_because']}", markup=False, highlight=False)
    else:
        out.print(f"Recommended: {best['summary']}", markup=False, highlight=False)
        for reason in best["reasons"]:
            out.print(f"  - {reason}", markup=False, highlight=False)
    for line in advice.get("missing", []):
        out.print(line, markup=False, highlight=False)


def write_report(advice: dict[str, Any], path: Path, quiet: bool = False) -> bool:
    """The HTML report at `path`, when this install can draw it; else one line that says what is missing.

    `quiet` (the copy beside last.json) says nothing either way. Whether the file was written.
    """
    from mleditor.advise.report import render_html

    try:
        html = render_html(advice)
        partial = path.with_name(path.name + ".partial")
        partial.write_text(html, encoding="utf-8")
        partial.replace(path)
    except MissingExtraError as exc:
        if not quiet:
            err.print(f"--report: not written: {exc}", markup=False, soft_wrap=True)
        return False
    except OSError as exc:
        if not quiet:
            err.print(f"--report: cannot write {path}: {exc.strerror}", markup=False, soft_wrap=True)
        return False
    if not quiet:
        err.print(f"report written to {path}", markup=False, highlight=False, soft_wrap=True)
    return True


def register(app: typer.Typer) -> None:
    app.command("advise")(advise_command)
