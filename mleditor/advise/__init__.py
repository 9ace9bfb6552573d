"""The advisor: which door to deploy, measured on this machine and decided from the scenario's constraints.

`measure` runs short, bounded measurements of each door through the doors' own code (the
benchmarks share it: `loopback`, `loadgen`, `browser_probe.mjs`); `derive` turns them into what a
user waits, servers, money, privacy and operations; `recommend` ranks the doors that meet the hard
constraints (simplest first) and says what excludes the others; `advice` assembles the JSON
("mleditor-advice/1") that `report` renders as HTML and `markdown` as the README's section. No door
imports this package; it composes over them.
"""

from __future__ import annotations

from mleditor._exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "NetworkProfile": "mleditor.advise.network",
    "Scenario": "mleditor.advise.scenario",
    "advise": "mleditor.advise.advice",
    "assemble": "mleditor.advise.advice",
    "last_advice_path": "mleditor.advise.advice",
    "load_scenario": "mleditor.advise.scenario",
    "measure_doors": "mleditor.advise.measure",
    "parse_network": "mleditor.advise.network",
    "render_markdown": "mleditor.advise.markdown",
    "request_ms": "mleditor.advise.network",
})
