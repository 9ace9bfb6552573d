"""The advice as one page people would rather look at than read: `render_html(advice) -> str`.

The invariant: the page is one self-contained HTML document. Every string taken from the advice is
escaped (`html.escape` here; matplotlib escapes the text it writes into its SVG, and reads no
mathtext), the charts are inline SVG drawn by matplotlib (the `advise` extra; the kit is
`svg_charts`), and nothing refers to anything outside the page (no script, font, image or
link), so it opens offline from file:// and under a policy of `default-src 'none'; style-src
'unsafe-inline'`. Any key of the contract (`mleditor-advice/1`, what `mleditor advise --json`
prints) may be missing: a missing number reads "not measured", and a chart with nothing to draw
becomes a note in its place.

Each door keeps one colour in every chart and table (`DOOR_COLOURS`, from the Okabe–Ito palette,
which readers with colour-blindness can tell apart).

    >>> page = render_html({"doors": [], "recommendation": None, "no_door_because": "no door was measured"})
    >>> page.startswith("<!DOCTYPE html>") and "no door was measured" in page
    True
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from mleditor.advise.svg_charts import (
    GRID,
    INK,
    LIMIT,
    MUTED,
    door_axis,
    door_figure,
    inline_svg,
    log_ms_axis,
    new_figure,
    style_axes,
    with_chart_style,
)
from mleditor.errors import require_extra

if TYPE_CHECKING:
    pass

EXTRA = "advise"
DOOR_COLOURS = {
    "streaming": "#0072B2",  # blue
    "batch": "#E69F00",  # orange
    "hybrid": "#CC79A7",  # reddish purple
    "device": "#009E73",  # bluish green
    "browser": "#56B4E9",  # sky blue
    "federated": "#D55E00",  # vermillion
}
OTHER_COLOURS = ("#7F7F7F", "#8C564B", "#332288", "#999933")
NOT_MEASURED = "not measured"
MAX_STRIP_POINTS = 300  # dots drawn per door in the latency chart; the box still uses every sample


# --- the page -------------------------------------------------------------------------------------


def render_html(advice: dict[str, Any]) -> str:
    """The advice (the `mleditor advise --json` object) as one self-contained HTML page."""
    require_extra("matplotlib", EXTRA)
    doors = [door for door in _list(advice.get("doors")) if isinstance(door, dict)]
    colours = door_colours(doors)
    scenario = _dict(advice.get("scenario"))
    body = "\n".join([
        _header(advice, scenario),
        _recommendation(advice, doors, colours),
        _glance(advice, doors, colours),
        _charts(advice, doors, colours, scenario),
        _scenario_section(scenario),
        _figures_section(doors, colours),
        _missing_section(advice, doors),
        _footer(advice),
    ])
    title = f"ML Editor advice: {scenario.get('name') or 'scenario'}"
    return PAGE.format(title=_e(title), css=CSS + _door_css(colours), body=body)


def door_colours(doors: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Each door's colour: its own for the six known doors, then a spare one each."""
    spare = iter(OTHER_COLOURS * (1 + len(doors) // len(OTHER_COLOURS)))
    return {_door_key(door): DOOR_COLOURS.get(_door_key(door)) or next(spare) for door in doors}


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f4f5f8;color:#1f2430;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:1180px;margin:0 auto;padding:28px 20px 48px}
h1{font-size:1.9rem;line-height:1.2;margin:0 0 6px;letter-spacing:-.01em}
h2{font-size:1.25rem;margin:0 0 14px}
h3{font-size:1rem;margin:0 0 8px}
p{margin:0 0 10px}
.sub{color:#5b6270;margin:0}
.meta{display:flex;flex-wrap:wrap;gap:8px;margin:14px 0 0;padding:0;list-style:none}
.meta li{background:#fff;border:1px solid #e3e6eb;border-radius:999px;padding:3px 12px;font-size:.85rem;color:#3b4250}
.meta b{font-weight:600;color:#1f2430}
section,.card{background:#fff;border:1px solid #e3e6eb;border-radius:14px;padding:22px 24px;margin:18px 0;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
.rec{border-left:8px solid var(--door,#7F7F7F)}
.rec.none{border-left-color:#C0392B;background:#fff8f6}
.rec .kicker{text-transform:uppercase;letter-spacing:.08em;font-size:.75rem;color:#5b6270;font-weight:600}
.rec .door-name{font-size:1.6rem;font-weight:700;margin:2px 0 6px;color:var(--door,#1f2430)}
.rec .summary{font-size:1.1rem;margin-bottom:14px}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:22px}
ul.reasons{margin:0;padding-left:1.2em}
ul.reasons li{margin:3px 0}
.others{list-style:none;margin:0;padding:0}
.others li{margin:0 0 10px;padding-left:22px;position:relative}
.others li .swatch{position:absolute;left:0;top:.35em}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;background:var(--door,#7F7F7F);
vertical-align:baseline;margin-right:6px}
.why{color:#5b6270;font-size:.92rem}
.ranking{margin-top:12px;font-size:.9rem;color:#3b4250}
.ranking ol{display:inline;padding:0;margin:0;list-style:none}
.ranking li{display:inline}
.ranking li+li:before{content:" \\203A  "}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,520px),1fr));gap:18px;margin:18px 0}
.charts .card{margin:0}
figure{margin:0}
figcaption{color:#5b6270;font-size:.88rem;margin-top:6px}
.chart svg{width:100%;height:auto;display:block}
.chart svg *{stroke-linejoin:round;stroke-linecap:butt}
.empty{display:flex;align-items:center;justify-content:center;min-height:180px;border:2px dashed #e3e6eb;
border-radius:10px;color:#5b6270;font-style:italic;text-align:center;padding:16px}
.table-wrap{overflow-x:auto}
.table-wrap.small{margin-top:12px}
.table-wrap.small table{font-size:.84rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:7px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th.num{text-align:right}
th{font-size:.74rem;text-transform:uppercase;letter-spacing:.05em;color:#5b6270;font-weight:600;
background:#fafbfc;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.num .nm{white-space:normal}
td .nm{font-size:.8rem}
tr.door-row td:first-child{font-weight:600;min-width:14em}
tr.door-row .when{display:block;font-weight:400;font-size:.8rem;color:#5b6270;max-width:26em}
.rec .concerns{margin-top:12px}
tr.group td{background:#f7f8fa;font-weight:700;border-top:2px solid var(--door,#7F7F7F)}
.yes{color:#1e7b4f;font-weight:600}
.no{color:#b03a2e;font-weight:600}
.nm{color:#8a919e;font-style:italic}
.badge{display:inline-block;font-size:.72rem;font-weight:700;letter-spacing:.04em;text-transform:uppercase;
border-radius:4px;padding:1px 6px;margin-right:6px;white-space:nowrap}
.badge.measured{background:#e3f4ea;color:#1e7b4f;border:1px solid #b9e2c9}
.badge.assumption{background:#fff1d6;color:#8a5a00;border:1px dashed #e6b95c}
.badge.derived{background:#eaf0fb;color:#2f4f8a;border:1px solid #c8d6f0}
tr.assumption td{background:#fffcf4}
tr.assumption td.how{font-style:italic}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:.85rem;color:#5b6270;margin:0 0 10px}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:6px 18px;margin:0}
dl.kv dt{color:#5b6270}
dl.kv dd{margin:0}
.source{color:#5b6270;font-size:.88rem}
footer{color:#5b6270;font-size:.85rem;margin-top:26px}
code{font:.88em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f2f5;padding:1px 5px;
border-radius:4px;word-break:break-word}
@media (max-width:640px){main{padding:16px 10px 32px}section,.card{padding:16px}h1{font-size:1.5rem}}
@media print{body{background:#fff}section,.card{box-shadow:none;break-inside:avoid}}
"""


def _door_css(colours: dict[str, str]) -> str:
    return "".join(f".d{index}{{--door:{colour}}}" for index, colour in enumerate(colours.values()))


def _header(advice: dict[str, Any], scenario: dict[str, Any]) -> str:
    machine, model = _dict(advice.get("machine")), _dict(advice.get("model"))
    chips = [
        ("scenario", scenario.get("name")),
        ("created", advice.get("created")),
        ("model", model.get("model_id")),
        ("model size", _with_unit(model.get("bytes"), "bytes") if model.get("bytes") is not None else None),
        ("machine", _machine(machine)),
        ("python", machine.get("python")),
        ("measured for", _with_unit(advice["measure_seconds"], "s") if advice.get("measure_seconds") else None),
    ]
    items = "".join(f"<li>{_e(name)} <b>{_e(value)}</b></li>" for name, value in chips if value not in (None, ""))
    return (f'<header><h1>Which door for “{_e(scenario.get("name") or "this scenario")}”?</h1>'
            f'<p class="sub">How each way of running ML Editor did on this machine, what it would cost, '
            f'and which one to choose.</p><ul class="meta">{items}</ul></header>')


def _machine(machine: dict[str, Any]) -> str | None:
    parts = [f"{machine['cpus']} CPUs" if machine.get("cpus") is not None else "",
             str(machine.get("cpu_model") or ""),
             f"{_number(machine['memory_gb'])} GB" if machine.get("memory_gb") is not None else ""]
    return " · ".join(part for part in parts if part) or None


# --- the recommendation ---------------------------------------------------------------------------


def _recommendation(advice: dict[str, Any], doors: list[dict[str, Any]], colours: dict[str, str]) -> str:
    recommendation = advice.get("recommendation")
    if not isinstance(recommendation, dict) or not recommendation.get("door"):
        because = _strings(advice.get("no_door_because")) or ["no door meets every constraint of the scenario"]
        return (f'<section class="rec none" id="recommendation"><div class="kicker">Recommendation</div>'
                f'<div class="door-name">No door meets every constraint</div>'
                f'<div class="cols"><div><h3>Why</h3>{_bullets(because)}</div>'
                f'<div><h3>Each door</h3>{_others(doors, colours, None, advice)}</div></div></section>')
    chosen = str(recommendation["door"])
    door = _find(doors, chosen)
    title = (door or {}).get("title") or chosen
    reasons = _strings(recommendation.get("reasons")) or _strings((door or {}).get("reasons"))
    return (f'<section class="rec {_door_class(colours, chosen)}" id="recommendation">'
            f'<div class="kicker">Recommendation</div><div class="door-name">{_e(title)}</div>'
            f'<p class="summary">{_e(recommendation.get("summary") or "")}</p>'
            f'<div class="cols"><div><h3>Why this door</h3>{_bullets(reasons or ["no reasons given"])}'
            f'{_concerns(door)}</div>'
            f'<div><h3>Why not the others</h3>{_others(doors, colours, chosen, advice)}</div></div>'
            f'{_ranking(advice, doors, colours)}</section>')


def _concerns(door: dict[str, Any] | None) -> str:
    concerns = _strings((door or {}).get("concerns"))
    return f'<div class="concerns"><h3>Watch for</h3>{_bullets(concerns)}</div>' if concerns else ""


def _others(doors: list[dict[str, Any]], colours: dict[str, str], chosen: str | None, advice: dict[str, Any]) -> str:
    ranking = [str(name) for name in _list(advice.get("ranking"))]
    items = []
    for door in doors:
        key = _door_key(door)
        if key == chosen:
            continue
        items.append(f'<li class="{_door_class(colours, key)}"><span class="swatch"></span>'
                     f'<b>{_e(door.get("title") or key)}</b><br><span class="why">'
                     f'{_e(_why_not(door, ranking, chosen))}</span></li>')
    return f'<ul class="others">{"".join(items)}</ul>' if items else '<p class="nm">no other door</p>'


def _why_not(door: dict[str, Any], ranking: list[str], chosen: str | None) -> str:
    """The one line that says why a door was not chosen: its exclusion, what stopped it, or its rank."""
    excluded = _strings(door.get("excluded_by"))
    if excluded:
        return "excluded: " + "; ".join(excluded)
    if door.get("status") == NOT_MEASURED or door.get("why_not"):
        return str(door.get("why_not") or NOT_MEASURED)
    reasons = "; ".join(_strings(door.get("reasons")))
    key = _door_key(door)
    if key in ranking and chosen is not None:
        return f"meets the constraints, ranks {ranking.index(key) + 1} of {len(ranking)}" + (
            f": {reasons}" if reasons else "")
    if door.get("meets") is False:
        return "does not meet the constraints" + (f": {reasons}" if reasons else "")
    return reasons or "no reason given"


def _ranking(advice: dict[str, Any], doors: list[dict[str, Any]], colours: dict[str, str]) -> str:
    ranking = [str(name) for name in _list(advice.get("ranking"))]
    if not ranking:
        return ""
    items = "".join(f'<li class="{_door_class(colours, name)}"><span class="swatch"></span>'
                    f'{_e(((_find(doors, name) or {}).get("title")) or name)}</li>' for name in ranking)
    return f'<div class="ranking">Doors that meet the constraints, best first: <ol>{items}</ol></div>'


# --- at a glance ----------------------------------------------------------------------------------


def _glance(advice: dict[str, Any], doors: list[dict[str, Any]], colours: dict[str, str]) -> str:
    if not doors:
        return '<section id="doors"><h2>The doors</h2><p class="nm">no door was measured</p></section>'
    limit = _float(_dict(advice.get("scenario")).get("max_latency_ms"))
    header = ("<tr><th>door</th><th>meets</th><th class=\"num\">compute p50</th><th class=\"num\">user p50</th>"
              "<th class=\"num\">user p99</th><th class=\"num\">per month</th><th class=\"num\">servers</th>"
              "<th>offline</th><th>text goes to</th><th class=\"num\">complexity</th></tr>")
    rows = "".join(_glance_row(door, colours, limit) for door in doors)
    return (f'<section id="doors"><h2>The doors at a glance</h2><div class="table-wrap"><table>'
            f"<thead>{header}</thead><tbody>{rows}</tbody></table></div></section>")


def _glance_row(door: dict[str, Any], colours: dict[str, str], limit: float | None) -> str:
    key = _door_key(door)
    user, cost = _dict(door.get("user_latency_ms")), _dict(door.get("cost"))
    hardware, network = _dict(door.get("hardware")), _dict(door.get("network"))
    privacy, complexity = _dict(door.get("privacy")), _dict(door.get("complexity"))
    p99 = _float(user.get("p99"))
    over = limit is not None and p99 is not None and p99 > limit
    when = f'<span class="when">{_e(door.get("choose_when"))}</span>' if door.get("choose_when") else ""
    cells = [
        f'<td><span class="swatch"></span>{_e(door.get("title") or key)}{when}</td>',
        f"<td>{_yes_no(door.get('meets'))}</td>",
        _num_cell(_compute_p50(door), "ms"),
        _num_cell(_float(user.get("p50")), "ms"),
        _num_cell(p99, "ms", css="no" if over else ""),
        _num_cell(_float(cost.get("per_month_usd")), "usd"),
        _num_cell(_float(hardware.get("servers_at_peak")), ""),
        f"<td>{_yes_no(network.get('works_offline'))}</td>",
        f"<td>{_e(privacy.get('text_goes')) if privacy.get('text_goes') else _nm()}</td>",
        _num_cell(_float(complexity.get("score")), ""),
    ]
    return f'<tr class="door-row {_door_class(colours, key)}">{"".join(cells)}</tr>'


def _num_cell(value: float | None, unit: str, css: str = "") -> str:
    if value is None:
        return f'<td class="num">{_nm()}</td>'
    return f'<td class="num {css}">{_e(_with_unit(value, unit))}</td>'


# --- charts ---------------------------------------------------------------------------------------


def _charts(advice: dict[str, Any], doors: list[dict[str, Any]], colours: dict[str, str],
            scenario: dict[str, Any]) -> str:
    network = _dict(scenario.get("network"))
    profile = network.get("name") or "the scenario's network"
    qps = _float(scenario.get("qps"))
    variants = _variants(advice)
    cards = [
        _chart_card("latency", "Compute latency per door",
                    "Each dot is one prediction on this machine, without the network; the box spans p25–p75, the "
                    "whiskers p1–p99. A line alone means only p50 and p99 were kept.",
                    lambda: _latency_chart(doors, colours)),
        _chart_card("user-latency", f"What a user waits, on {profile}",
                    f"p50 (dot) to p99 (bar end): compute plus round trips and transfer under the network profile"
                    f"{_profile_text(network)}; the hollow diamond is the compute alone.",
                    lambda: _user_latency_chart(doors, colours, _float(scenario.get("max_latency_ms")))),
        _chart_card("cost", "Cost per month as the traffic grows",
                    "Servers and egress at the scenario's prices, both axes logarithmic"
                    + (f"; the dotted line is the scenario's {_number(qps)} QPS." if qps else "."),
                    lambda: _cost_chart(doors, colours, qps)),
        _chart_card("device-variants", "Device variants: size against quality",
                    "Each compressed variant's size on disk and its ROC AUC on the held-out questions; ΔAUC is "
                    "against the full model.",
                    lambda: _variants_chart(variants), _variants_table(variants)),
    ]
    return f'<div class="charts" id="charts">{"".join(cards)}</div>'


def _profile_text(network: dict[str, Any]) -> str:
    rtt, down, up = (_float(network.get(key)) for key in ("rtt_ms", "down_mbps", "up_mbps"))
    parts = [f"RTT {_number(rtt)} ms" if rtt is not None else "",
             f"{_number(down)} Mbit/s down" if down is not None else "",
             f"{_number(up)} Mbit/s up" if up is not None else ""]
    text = ", ".join(part for part in parts if part)
    return f" ({text})" if text else ""


def _chart_card(name: str, title: str, caption: str, draw: Callable[[], str | None], extra: str = "") -> str:
    svg = with_chart_style(draw)
    inner = svg if svg is not None else f'<div class="empty">{_e(NOT_MEASURED)}: no figures for this chart</div>'
    return (f'<div class="card"><figure class="chart" id="chart-{name}" data-chart="{name}">'
            f"<h3>{_e(title)}</h3>{inner}<figcaption>{_e(caption)}</figcaption></figure>{extra}</div>")


def _latency_chart(doors: list[dict[str, Any]], colours: dict[str, str]) -> str | None:
    rows = []
    for door in doors:
        samples = _samples(door)
        p50 = _quantile(samples, 0.5) if samples else _figure_value(door, "p50_ms")
        p99 = _quantile(samples, 0.99) if samples else _figure_value(door, "p99_ms")
        if p50 is not None and p50 > 0:
            rows.append((door, samples, p50, p99 if p99 is not None and p99 > 0 else None))
    if not rows:
        return None
    import numpy as np

    figure, axes = door_figure(len(rows))
    rng = np.random.default_rng(0)
    for y, (door, samples, p50, p99) in enumerate(rows):
        colour = colours[_door_key(door)]
        if len(samples) >= 2:
            picked = np.linspace(0, len(samples) - 1, min(len(samples), MAX_STRIP_POINTS)).astype(int)
            shown = np.asarray(samples)[picked]
            axes.scatter(shown, y + rng.uniform(-0.28, 0.28, len(shown)), s=6, color=colour, alpha=0.28,
                         linewidths=0, zorder=2)
            axes.boxplot([samples], positions=[y], orientation="horizontal", widths=0.5, whis=(1, 99),
                         showfliers=False, patch_artist=True, zorder=3,
                         boxprops={"facecolor": colour + "55", "edgecolor": colour, "linewidth": 1.4},
                         medianprops={"color": INK, "linewidth": 2},
                         whiskerprops={"color": colour, "linewidth": 1.4},
                         capprops={"color": colour, "linewidth": 1.4})
        else:
            axes.plot([p50, p99 or p50], [y, y], color=colour, linewidth=3, solid_capstyle="butt", zorder=3)
            axes.plot([p50], [y], "o", color=colour, markersize=8, zorder=4)
            if p99:
                axes.plot([p99], [y], "|", color=colour, markersize=16, markeredgewidth=3, zorder=4)
    labels = [f"{_title(door)}\np50 {_number(p50)} · p99 {_number(p99) if p99 else '–'} ms"
              for door, _, p50, p99 in rows]
    door_axis(axes, labels)
    log_ms_axis(axes, "compute latency per prediction (ms)", _number)
    return inline_svg(figure, "latency")


def _user_latency_chart(doors: list[dict[str, Any]], colours: dict[str, str], limit: float | None) -> str | None:
    rows = []
    for door in doors:
        user = _dict(door.get("user_latency_ms"))
        p50, p99 = _float(user.get("p50")), _float(user.get("p99"))
        if p50 is not None and p50 >= 0:
            rows.append((door, p50, p99 if p99 is not None and p99 >= p50 else p50, _compute_p50(door)))
    if not rows:
        return None
    figure, axes = door_figure(len(rows))
    for y, (door, p50, p99, compute) in enumerate(rows):
        colour = colours[_door_key(door)]
        axes.plot([p50, p99], [y, y], color=colour, linewidth=7, alpha=0.45, solid_capstyle="butt", zorder=2)
        axes.plot([p50], [y], "o", color=colour, markersize=10, markeredgecolor="white", markeredgewidth=1.5,
                  zorder=4)
        axes.plot([p99], [y], "|", color=colour, markersize=18, markeredgewidth=3, zorder=3)
        if compute is not None and compute > 0:
            axes.plot([compute], [y], "D", markerfacecolor="white", markeredgecolor=colour, markersize=7,
                      markeredgewidth=1.6, zorder=5)
    values = [value for _, p50, p99, compute in rows for value in (p50, p99, compute or 0) if value > 0]
    # Linear while the limit is in view (how far each door is from it reads directly), else log if the doors differ
    # by more than 50×: a 60 ms network beside a 0.1 ms device is then still two visible marks.
    far = limit is None or max(values, default=0) > 3 * limit
    logarithmic = bool(values) and far and max(values) / min(values) > 50
    if limit is not None and limit > 0:
        axes.axvline(limit, color=LIMIT, linestyle="--", linewidth=1.5, zorder=1)
        axes.annotate(f"limit {_number(limit)} ms", xy=(limit, 1), xycoords=("data", "axes fraction"),
                      xytext=(4, -4), textcoords="offset points", color=LIMIT, fontsize=9, va="top")
    labels = [f"{_title(door)}\np50 {_number(p50)} · p99 {_number(p99)} ms" for door, p50, p99, _ in rows]
    door_axis(axes, labels)
    if logarithmic:
        log_ms_axis(axes, "time a user waits per question (ms)", _number)
    else:
        right = max([*values, limit or 0]) * 1.12 or 1
        axes.set_xlim(left=-right * 0.03, right=right)
        axes.set_xlabel("time a user waits per question (ms)")
        axes.grid(axis="x", color=GRID, linewidth=0.8)
    return inline_svg(figure, "user-latency")


def _cost_chart(doors: list[dict[str, Any]], colours: dict[str, str], qps: float | None) -> str | None:
    from matplotlib.ticker import FuncFormatter

    lines, free = [], []
    for door in doors:
        points = sorted((q, usd) for q, usd in (_pair(point) for point in _list(door.get("cost_vs_qps")))
                        if q is not None and usd is not None and q > 0)
        month = _float(_dict(door.get("cost")).get("per_month_usd"))
        if not points and month is not None and qps:
            points = [(qps, month)]
        if points and all(usd <= 0 for _, usd in points):
            free.append(door)
        elif any(usd > 0 for _, usd in points):
            lines.append((door, [(q, usd) for q, usd in points if usd > 0]))
    if not lines and not free:
        return None
    figure = new_figure(3.6 + 0.2 * ((len(lines) + 1) // 2))
    axes = figure.add_subplot()
    for door, points in lines:
        colour = colours[_door_key(door)]
        axes.plot([q for q, _ in points], [usd for _, usd in points], "-o", color=colour, linewidth=2.2,
                  markersize=5, label=_title(door))
    if qps:
        axes.axvline(qps, color=MUTED, linestyle=":", linewidth=1.5)
    if lines:
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: "$" + _number(value)))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _number(value)))
        figure.legend(loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    else:
        axes.set_yticks([])
        axes.set_xticks([])
    if free:
        names = ", ".join(_title(door) for door in free)
        axes.text(0.99, 0.02, f"$0 on servers at any QPS: {names}", transform=axes.transAxes, ha="right",
                  va="bottom", fontsize=9, color=MUTED)
    axes.set_xlabel("questions per second (QPS)")
    axes.set_ylabel("USD per month")
    style_axes(axes)
    axes.grid(which="major", color=GRID, linewidth=0.8)
    return inline_svg(figure, "cost")


def _variants(advice: dict[str, Any]) -> list[tuple[str, float, float, dict[str, Any]]]:
    """(name, MB, ROC AUC, the variant) for each device variant with a size and an AUC, smallest first."""
    found = []
    for variant in _list(advice.get("device_variants")):
        if isinstance(variant, dict):
            size, auc = _float(variant.get("bytes")), _float(variant.get("roc_auc"))
            if size is not None and auc is not None and size > 0:
                found.append((str(variant.get("variant") or "?"), size / 1e6, auc, variant))
    return sorted(found, key=lambda found_one: found_one[1])


def _variants_chart(points: list[tuple[str, float, float, dict[str, Any]]]) -> str | None:
    from matplotlib.ticker import FuncFormatter

    if not points:
        return None
    figure = new_figure(3.8)
    axes = figure.add_subplot()
    colour = DOOR_COLOURS["device"]
    sizes, aucs = [p[1] for p in points], [p[2] for p in points]
    axes.plot(sizes, aucs, color=colour, alpha=0.35, linewidth=1.2)
    axes.scatter(sizes, aucs, s=70, color=colour, edgecolors="white", linewidths=1.5, zorder=3)
    for n, (name, size, auc, _) in enumerate(points):
        # Alternate above and below: variants of one quality (fp32, fp16, int8) sit on one line.
        axes.annotate(f"{name}\n{_number(size)} MB", (size, auc), xytext=(0, 9 if n % 2 == 0 else -10),
                      textcoords="offset points", fontsize=9, color=INK, ha="center",
                      va="bottom" if n % 2 == 0 else "top")
    spread = max(max(aucs) - min(aucs), 0.002)
    axes.set_ylim(min(aucs) - spread * 0.7, max(aucs) + spread * 0.7)
    axes.set_xlim(0, max(sizes) * 1.15)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{_number(value)} MB"))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.3f}"))
    axes.set_xlabel("size on disk")
    axes.set_ylabel("ROC AUC")
    style_axes(axes)
    axes.grid(color=GRID, linewidth=0.8)
    return inline_svg(figure, "device-variants")


def _variants_table(points: list[tuple[str, float, float, dict[str, Any]]]) -> str:
    if not points:
        return ""
    rows = "".join(
        f"<tr><td>{_e(name)}</td><td class=\"num\">{_e(_with_unit(variant.get('bytes'), 'bytes'))}</td>"
        f"<td class=\"num\">{auc:.4f}</td><td class=\"num\">{_delta(variant.get('delta_auc'))}</td>"
        f"{_num_cell(_float(variant.get('p50_ms')), 'ms')}{_num_cell(_float(variant.get('load_ms')), 'ms')}</tr>"
        for name, _, auc, variant in points)
    return ('<div class="table-wrap small"><table><thead><tr><th>variant</th><th class="num">size</th>'
            '<th class="num">ROC AUC</th><th class="num">ΔAUC</th><th class="num">p50</th><th class="num">load</th>'
            f"</tr></thead><tbody>{rows}</tbody></table></div>")


def _delta(value: object) -> str:
    number = _float(value)
    return _nm() if number is None else _e(f"{number:+.5f}".replace("-", "\N{MINUS SIGN}"))


# --- the scenario, every figure, what is missing --------------------------------------------------


SCENARIO_ROWS: tuple[tuple[str, str, Callable[[object], str | None]], ...] = (
    ("questions per second", "qps", lambda value: _with_unit(value, "")),
    ("latency limit", "max_latency_ms", lambda value: _with_unit(value, "ms")),
    ("works offline", "offline", lambda value: _flag(value)),
    ("text must stay on the device", "text_must_stay_on_device", lambda value: _flag(value)),
    ("a model per user", "per_user_models", lambda value: _flag(value)),
    ("the scores are needed on the server", "needs_server_data", lambda value: _flag(value)),
    ("questions known in advance", "known_in_advance", lambda value: _percent(value)),
    ("questions asked again", "repeat_rate", lambda value: _percent(value)),
    ("answers read later", "read_later", lambda value: _flag(value)),
    ("price per vCPU hour", "price_vcpu_hour", lambda value: _with_unit(value, "usd")),
    ("price per GB out", "price_egress_gb", lambda value: _with_unit(value, "usd")),
    ("time spent measuring", "budget_s", lambda value: _with_unit(value, "s")),
)
OPTIONAL_SCENARIO_KEYS = ("needs_server_data", "read_later")  # newer keys: a row only where the advice has them


def _scenario_section(scenario: dict[str, Any]) -> str:
    if not scenario:
        return '<section id="scenario"><h2>The scenario</h2><p class="nm">not given</p></section>'
    network = _dict(scenario.get("network"))
    shown = [(label, None if scenario.get(key) is None else show(scenario[key]))
             for label, key, show in SCENARIO_ROWS if key in scenario or key not in OPTIONAL_SCENARIO_KEYS]
    shown.append(("network", f"{network.get('name') or '?'}{_profile_text(network)}" if network else None))
    rows = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value) if value is not None else _nm()}</dd>"
                   for label, value in shown)
    sources = [(label, value) for label, value in (("scenario", scenario.get("source")),
                                                    ("network", network.get("source")),
                                                    ("prices", scenario.get("price_source"))) if value]
    notes = "".join(f'<p class="source"><b>{_e(label)}:</b> {_badge(str(value))}{_e(value)}</p>'
                    for label, value in sources)
    about = f"<p>{_e(scenario['description'])}</p>" if scenario.get("description") else ""
    return f'<section id="scenario"><h2>The scenario</h2>{about}<dl class="kv">{rows}</dl>{notes}</section>'


def _figures_section(doors: list[dict[str, Any]], colours: dict[str, str]) -> str:
    groups = []
    for door in doors:
        key = _door_key(door)
        figures = [figure for figure in _list(door.get("figures")) if isinstance(figure, dict)]
        extra = _nested_figures(door)
        head = (f'<tr class="group {_door_class(colours, key)}"><td colspan="3"><span class="swatch"></span>'
                f'{_e(door.get("title") or key)}{_status_note(door)}</td></tr>')
        rows = "".join(_figure_row(figure) for figure in [*figures, *extra])
        if not figures and not extra:
            rows = f'<tr><td colspan="3" class="nm">{_e(door.get("why_not") or NOT_MEASURED)}</td></tr>'
        groups.append(head + rows)
    if not groups:
        return '<section id="figures"><h2>Every figure</h2><p class="nm">no figures</p></section>'
    legend = ('<div class="legend"><span><span class="badge measured">measured</span>on this machine, now</span>'
              '<span><span class="badge assumption">assumption</span>a number we were given or chose: check it</span>'
              '<span><span class="badge derived">derived</span>computed from the others</span></div>')
    return (f'<section id="figures"><h2>Every figure, and where it comes from</h2>{legend}<div class="table-wrap">'
            f'<table><thead><tr><th>figure</th><th class="num">value</th><th>how</th></tr></thead>'
            f'<tbody>{"".join(groups)}</tbody></table></div></section>')


def _nested_figures(door: dict[str, Any]) -> list[dict[str, Any]]:
    """The user latency and cost blocks as figures too, with their own "how"."""
    found = []
    for block in ("user_latency_ms", "cost"):
        values = _dict(door.get(block))
        how = values.get("how") or "derived"
        for key, value in values.items():
            if key != "how" and _float(value) is not None:
                unit = "ms" if block == "user_latency_ms" else "usd" if key.endswith("_usd") else ""
                found.append({"name": f"{block}.{key}", "value": value, "unit": unit, "how": how})
    return found


def _figure_row(figure: dict[str, Any]) -> str:
    how = str(figure.get("how") or "")
    kind = _how_kind(how)
    value = figure.get("value")
    shown = _e(_with_unit(value, str(figure.get("unit") or ""))) if value is not None else _nm()
    return (f'<tr class="{kind}"><td>{_e(figure.get("name") or "?")}</td><td class="num">{shown}</td>'
            f'<td class="how">{_badge(how)}{_e(how)}</td></tr>')


def _status_note(door: dict[str, Any]) -> str:
    status = door.get("status")
    return f' <span class="nm">({_e(status)})</span>' if status and status != "measured" else ""


def _missing_section(advice: dict[str, Any], doors: list[dict[str, Any]]) -> str:
    missing = _strings(advice.get("missing"))
    for door in doors:
        for why in [door.get("why_not"), *_strings(door.get("partial"))]:
            if why and not any(str(why) in line for line in missing):
                missing.append(f"{_door_key(door)}: {why}")
    if not missing:
        return ""
    return f'<section id="missing"><h2>Not measured</h2>{_bullets(missing)}</section>'


def _footer(advice: dict[str, Any]) -> str:
    command = advice.get("command")
    again = f"Run again: <code>{_e(command)}</code> · " if command else ""
    return (f"<footer>{again}schema {_e(advice.get('schema') or 'unknown')} · "
            f"written by ML Editor; charts drawn with matplotlib.</footer>")


# --- small helpers --------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _nm() -> str:
    return f'<span class="nm">{NOT_MEASURED}</span>'


def _bullets(lines: Iterable[str]) -> str:
    return '<ul class="reasons">' + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>"


def _badge(how: str) -> str:
    kind = _how_kind(how)
    return f'<span class="badge {kind}">{kind}</span>'


def _how_kind(how: str) -> str:
    """measured, assumption or derived, from the first word of a figure's "how"."""
    first = how.strip().lower()
    if first.startswith("measured"):
        return "measured"
    return "assumption" if first.startswith(("assumption", "assumed")) else "derived"


def _door_key(door: dict[str, Any]) -> str:
    return str(door.get("door") or door.get("title") or "?")


def _title(door: dict[str, Any]) -> str:
    return str(door.get("title") or _door_key(door))


def _door_class(colours: dict[str, str], key: str) -> str:
    return f"d{list(colours).index(key)}" if key in colours else ""


def _find(doors: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((door for door in doors if _door_key(door) == key), None)


def _figure_value(door: dict[str, Any], name: str) -> float | None:
    return next((_float(f.get("value")) for f in _list(door.get("figures"))
                 if isinstance(f, dict) and f.get("name") == name), None)


def _samples(door: dict[str, Any]) -> list[float]:
    """The door's compute samples (ms), positive ones only, sorted."""
    values = (_float(value) for value in _list(door.get("latency_samples_ms")))
    return sorted(value for value in values if value is not None and value > 0)


def _compute_p50(door: dict[str, Any]) -> float | None:
    samples = _samples(door)
    return _quantile(samples, 0.5) if samples else _figure_value(door, "p50_ms")


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _strings(value: object) -> list[str]:
    if value is None or value == "":
        return []
    return [str(item) for item in value] if isinstance(value, list | tuple) else [str(value)]


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _pair(point: object) -> tuple[float | None, float | None]:
    items = _list(point)
    return (_float(items[0]), _float(items[1])) if len(items) >= 2 else (None, None)


def _yes_no(value: object) -> str:
    if value is True:
        return '<span class="yes">yes</span>'
    return '<span class="no">no</span>' if value is False else _nm()


def _flag(value: object) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _percent(value: object) -> str | None:
    number = _float(value)
    return None if number is None else f"{number * 100:.0f} %"


def _number(value: object) -> str:
    """A number at a precision a person reads: 1,234 · 123 · 12.3 · 1.23 · 0.0123."""
    number = _float(value)
    if number is None:
        return str(value)
    size = abs(number)
    if size == 0:
        return "0"
    if size >= 1000:
        return f"{number:,.0f}"
    if size >= 100:
        return f"{number:.0f}"
    if size >= 1:
        return f"{number:.3g}" if size < 10 else f"{number:.1f}".rstrip("0").rstrip(".")
    return f"{number:.2g}"


def _with_unit(value: object, unit: str) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    number = _float(value)
    if number is None:
        return str(value)
    if unit.lower() in ("usd", "$", "usd/month"):
        return f"${number:,.2f}" if abs(number) >= 0.01 or number == 0 else f"${number:.2g}"
    if unit.lower() in ("bytes", "b"):
        for size, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
            if abs(number) >= size:
                return f"{_number(number / size)} {name}"
        return f"{number:,.0f} B"
    return f"{_number(number)} {unit}".strip()
