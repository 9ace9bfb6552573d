"""Rendering of `bench_serve.py`'s report (a plain dict, also written as JSON) as the Markdown in BENCHMARKS.md."""

from __future__ import annotations

from typing import Any

from bench_core import table

LATENCY_AIM_MS = 10.0  # the aim: p99 within 10 ms at the highest throughput reachable


def render_markdown(report: dict[str, Any]) -> str:
    """How it was made, the in-process floor, every cell, the latency aim, and the batching settings."""
    m, s, plan = report["machine"], report["serve_defaults"], report["plan"]
    flask_rps = {(c["version"], c["connections"]): c["requests_per_s"]
                 for c in report["cells"] if c["server"] == report["baseline"]}
    aim = f"p99 ≤ {LATENCY_AIM_MS:g} ms"

    def vs_flask(c: dict[str, Any]) -> str:
        base = flask_rps.get((c["version"], c["connections"]))
        return f"{c['requests_per_s'] / base:.2f}×" if base else "—"

    def best_cells(row: dict[str, Any]) -> list[object]:
        b, p = row["best"], row["peak"]
        best = [f"{b['requests_per_s']:,.0f}", b["connections"], f"{b['p99_ms']:.1f}"] if b else ["none", "—", "—"]
        ratio = f"{row['vs_baseline']:.1f}×" if row["vs_baseline"] else "—"
        return [row["server"], row["version"], *best, ratio,
                f"{p['requests_per_s']:,.0f} ({p['connections']} conns, p99 {p['p99_ms']:.0f} ms)"]

    lines = [
        f"command: `{report['command']}`  ", f"date: {report['date']}  ",
        (f"machine: {m['cpu']}, {m['cores']} cores ({m['usable_cores']} usable), {m['platform']}; "
         f"Python {m['python']}, onnxruntime {m['onnxruntime']} (1 intra-op thread), numpy {m['numpy']}; "
         f"{report['packages']}  "),
        (f"load: {report['loadgen']}; {plan['seconds']} s per cell after a {plan['warmup_s']} s warm-up per "
         f"server and version; a cell during which other programs used more than {plan['max_other_cpu']:g} cores "
         f"is measured again (at most {plan['retries']} more times) and the least disturbed run kept  "),
        f"data: {report['data']}  ",
        (f"mleditor serve settings: cache_size=0 (off), rate_limit_per_minute=0 (off), max_batch_size="
         f"{s['max_batch_size']}, max_wait_ms={s['max_wait_ms']:g}, log_level={s['log_level']} (one JSON access line "
         f"per request), model_threads={s['model_threads']}"), "",
        *table(["in-process Predictor.predict, no HTTP", "p50 µs", "p99 µs", "mean µs", "questions/s per core"],
               [[f"predict(q, '{r['version']}')", r["p50_us"], r["p99_us"], r["mean_us"], r["per_core_per_s"]]
                for r in report["floor"]]),
        *table(["server", "model", "conns", "req/s", "p50 ms", "p99 ms", "req/s vs Flask", "server CPU µs/req",
                "CPU server (per process)", "CPU client", "CPU other", "errors"],
               [[c["server"], c["version"], c["connections"], c["requests_per_s"], f"{c['p50_ms']:.1f}",
                 f"{c['p99_ms']:.1f}", vs_flask(c), c["server_cpu"] * 1e6 / max(c["requests_per_s"], 1e-9),
                 per_process(c), f"{c['client_cpu']:.2f}", other_cpu(c, plan), c["errors"]]
                for c in report["cells"]]),
        ("CPU columns: cores in use on average during the cell (the machine has "
         f"{m['usable_cores']}); \"other\" is everything but the server and the load generator (other programs, "
         f"the kernel). * = still above {plan['max_other_cpu']:g} cores after the retries: that cell is disturbed."),
        "",
        *table(["best throughput within the aim", "model", f"req/s with {aim}", "conns", "p99 ms",
                f"vs Flask's best with {aim}", "peak req/s (any conns)"],
               [best_cells(row) for row in report["aim"]]),
    ]
    if report["variants"]:
        lines += render_variants(report)
    return "\n".join(lines).rstrip()


def render_variants(report: dict[str, Any]) -> list[str]:
    """The batching-settings table, and which setting did best at each number of connections."""
    variants, aim = report["variants"], f"p99 ≤ {LATENCY_AIM_MS:g} ms"
    shipped = {v["connections"]: v["requests_per_s"] for v in variants if v["server"] == report["shipped"]}
    rows = [[v["server"], v["version"], v["connections"], v["requests_per_s"], f"{v['p50_ms']:.1f}",
             f"{v['p99_ms']:.1f}", f"{v['requests_per_s'] / shipped[v['connections']]:.2f}×", per_process(v),
             other_cpu(v, report["plan"])] for v in sorted(variants, key=lambda v: v["connections"])]
    lines = table([f"{report['variant_server']}, batching", "model", "conns", "req/s", "p50 ms", "p99 ms",
                   "req/s vs shipped", "CPU server (per process)", "CPU other"], rows)
    for count in shipped:
        cells = [v for v in variants if v["connections"] == count]
        fitting = [v for v in cells if v["p99_ms"] <= LATENCY_AIM_MS]
        best = max(fitting or cells, key=lambda v: v["requests_per_s"])
        why = f"the highest throughput with {aim}" if fitting else f"none meets {aim}; the highest throughput"
        lines.append(f"Best batching setting at {count} conns: {best['server']} ({best['requests_per_s']:,.0f} "
                     f"req/s, p99 {best['p99_ms']:.1f} ms: {why}).  ")
    return lines


def per_process(cell: dict[str, Any]) -> str:
    return " + ".join(f"{cores:.2f}" for cores in cell["process_cpu"]) or "0"


def other_cpu(cell: dict[str, Any], plan: dict[str, Any]) -> str:
    """Cores other programs used; starred when the cell stayed disturbed after its retries."""
    return f"{cell['other_cpu']:.2f}" + ("*" if cell["other_cpu"] > plan["max_other_cpu"] else "")


def counts(text: str | None) -> tuple[int, ...]:
    """"1,4,16" -> (1, 4, 16); None or "" -> ()."""
    return tuple(int(n) for n in (text or "").split(",") if n.strip())
