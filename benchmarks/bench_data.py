"""Data benchmark: what the second data folder buys — 5-fold author cross-validation on the nine old sites vs all
fifteen, in one run, with per-site ROC AUC, the authors the federated door would have, and the time each takes.

    .venv/bin/python benchmarks/bench_data.py [--folds 5] [--json]

Both datasets are ingested here from $MLEDITOR_DATA: `stackexchange/` alone (nine sites) and every
`stackexchange*/` folder (two dumps of one site merged). The model and the baselines are trained
per fold exactly as `mleditor evaluate --folds` does; the held-out site (`ai`) is left out of both.
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_core import machine_info

from mleditor import config
from mleditor.core.dataset import read_dataset
from mleditor.core.ingest import ingest_dumps
from mleditor.training.crossval import cross_validate, crossval_table_markdown


def authors(dataset: Path) -> dict[str, int]:
    """Authors (site + owner) with at least 2, 5 and 10 questions."""
    counts = collections.Counter(r.author_key for r in read_dataset(dataset))
    return {f">= {k}": sum(1 for n in counts.values() if n >= k) for k in (1, 2, 5, 10)}


def measure(name: str, dumps: list[Path], folds: int, workdir: Path) -> dict[str, Any]:
    dataset = workdir / f"{name}.sqlite"
    summary = ingest_dumps(dumps, dataset)
    started = time.perf_counter()
    rows = cross_validate(dataset, folds=folds)
    seconds = time.perf_counter() - started
    return {"name": name, "questions": sum(summary.questions_per_site.values()),
            "sites": len(summary.questions_per_site), "merged": [m.describe() for m in summary.merged],
            "authors": authors(dataset), "crossval_seconds": round(seconds, 1),
            "table": crossval_table_markdown(rows, folds),
            "site_roc_auc": {row.model: dict(row.site_roc_auc) for row in rows[:1]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = config.data_dir()
    old = sorted(p.parent for p in (root / "stackexchange").glob("*/Posts.xml"))
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure("nine sites (stackexchange/)", old, args.folds, Path(tmp)),
                   measure("all fifteen (stackexchange*/)", config.dump_dirs(), args.folds, Path(tmp))]
    report = {"command": f"benchmarks/bench_data.py --folds {args.folds}", "date": time.strftime("%Y-%m-%d"),
              "machine": machine_info(), "results": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    m = report["machine"]
    print(f"command: `.venv/bin/python {report['command']}`  \ndate: {report['date']}  \n"
          f"machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}\n")
    for r in results:
        print(f"**{r['name']}**: {r['questions']:,} questions, {r['sites']} sites; authors "
              + ", ".join(f"{k}: {v:,}" for k, v in r["authors"].items())
              + f"; cross-validation (model + 4 baselines, {args.folds} folds) {r['crossval_seconds']:.0f} s\n")
        print(r["table"])
        (model, per_site), = r["site_roc_auc"].items()
        print(f"{model}, ROC AUC per site (pooled out-of-fold): "
              + ", ".join(f"{site} {auc:.3f}" for site, auc in per_site.items()) + "\n")


if __name__ == "__main__":
    main()
