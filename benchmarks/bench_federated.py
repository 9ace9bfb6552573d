"""Federated benchmark, part 1: centralized vs centralized + user-specific features, on the same later questions.

    .venv/bin/python benchmarks/bench_federated.py [--dataset FILE] [--epochs N] [--json]

Clients are authors (`mleditor.federated.partition`): each author's last 30 % of questions (at least
one) are held out, earlier ones train, and a hashed 15 % of authors never train ("never-seen").
Without --dataset the nine sites of $MLEDITOR_DATA/stackexchange/ are ingested (the issue's 1,563
authors). (1) centralized: the project's network (`training.train.fit_network`, the shipped
model's network config) trained on every training question pooled, early-stopped on a hashed 20 %
of the training authors ("tune"); (2) + user features: a logistic regression on [the network's
logit, the author-history features at lag N days] fitted on the tune authors' training questions,
whose logits the network did not fit. Reported: ROC AUC (`training.metrics.roc_auc`) on the
held-out later questions, overall and by history length, and on the never-seen authors.
(3) FedAvg and FedAvgM (server momentum 0.9) in Flower's simulation engine (`mleditor.federated`,
`--rounds`, `--clients-per-round`; 0 rounds skips them), every training author a client, and
(4) FedAvgM + personalization (finetune: the dense layers; head: a per-author bias), (5) FedAdam
(server Adam), (6) FedAvg with differential privacy (client-side clipping to --dp-clip, the server's
Gaussian noise of multiplier --dp-noise; epsilon at delta 1e-5 from the RDP accountant for the rounds
run), (7) FedAvg with SecAgg+ and (8) FedAvg on the loopback Deployment Engine
(--deployment-rounds), with rounds to reach 95 % of the centralized AUC (the goal: FedAvg
within 50 rounds), bytes per client per round (measured, as sent) and seconds per round. Every
federated run uses the same --local-epochs, --learning-rate and --clients-per-round.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from bench_core import machine_info
from sklearn.linear_model import LogisticRegression

import mleditor
from mleditor import config
from mleditor.core.dataset import read_dataset
from mleditor.core.ingest import ingest_dumps
from mleditor.federated.partition import HISTORY_BUCKETS, Partition, PartitionConfig, partition_authors
from mleditor.federated.user_features import LAGS_DAYS, author_feature_matrix
from mleditor.training.metrics import roc_auc
from mleditor.training.splits import unit_interval
from mleditor.training.train import TrainConfig, featurize_records, fit_network, network_logits

SHIPPED_META = Path(mleditor.__file__).parent / "models" / "se15-v1" / "meta.json"
TUNE_FRACTION = 0.2


def dataset_path(given: Path | None, workdir: Path) -> Path:
    """The dataset file given, else the nine sites of stackexchange/ ingested into `workdir`."""
    if given is not None:
        return given
    dumps = sorted(p.parent for p in (config.data_dir() / "stackexchange").glob("*/Posts.xml"))
    ingest_dumps(dumps, workdir / "questions.sqlite")
    return workdir / "questions.sqlite"


def tune_mask(partition: Partition, seed: int) -> np.ndarray:
    """Training questions of a hashed TUNE_FRACTION of the training authors (early stopping, stacking)."""
    hashed = np.array([unit_interval(f"federated-tune:{a}", seed) < TUNE_FRACTION for a in partition.authors])
    return np.asarray(partition.mask("train") & hashed)


def evaluation_sets(partition: Partition) -> dict[str, np.ndarray]:
    held = partition.mask("heldout")
    sets = {"held-out later questions, all": held}
    for bucket in HISTORY_BUCKETS:
        sets[f"… authors with {bucket} earlier"] = held & (partition.buckets == bucket)
    # The personalization goal's set (the issue: authors with >= 5 earlier questions), pooled: one AUC, not two.
    sets["… authors with 5+ earlier (5-9 and 10+ pooled)"] = held & np.isin(partition.buckets, ("5-9", "10+"))
    sets["never-seen authors, all questions"] = partition.mask("unseen")
    return sets


def auc_or_none(labels: np.ndarray, scores: np.ndarray) -> float | None:
    return roc_auc(labels, scores) if len(set(labels.tolist())) == 2 else None


def stacked_scores(logits: np.ndarray, partition: Partition, fit_rows: np.ndarray, lag: int, seed: int) -> np.ndarray:
    """A logistic regression on [logit, user features at `lag`] fitted on `fit_rows`; its logit for every row."""
    features = np.column_stack([logits, author_feature_matrix(partition.records, partition.labels, lag)])
    model = LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    model.fit(features[fit_rows], partition.labels[fit_rows])
    return np.asarray(model.decision_function(features))


def federated_scores(partition: Partition, table: Any, rounds: int, base: Any, dp: tuple[float, float],
                     secagg_rounds: int, deployment_rounds: int = 0) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Rows 3-7: the final global logits of each federated run (FedAvgM also personalized); each run's summary."""
    from mleditor.federated.personalize import personalized_logits
    from mleditor.federated.simulation import simulate

    variants = {"fedavg": {}, "fedavgm": {"strategy": "fedavgm"}, "fedadam": {"strategy": "fedadam"},
                f"fedavg + DP (sigma {dp[0]:g}, C {dp[1]:g})": {"dp_noise": dp[0], "dp_clip": dp[1]},
                "fedavg + SecAgg+": {"secagg": True}}
    scores, runs = {}, {}
    for name, changes in variants.items():
        # SecAgg+ rounds cost ~4x a plain one on 2 cores (4 stages, a mask per neighbour): --secagg-rounds
        result = simulate(partition, table, replace(base, rounds=secagg_rounds if "secagg" in changes else rounds,
                                                    **changes))
        runs[name] = result.summary
        scores[name] = personalized_logits(result.weights, partition, table, "none")[0]
        if name == "fedavgm":
            for mode in ("finetune", "head"):
                scores[f"fedavgm + {mode}"] = personalized_logits(result.weights, partition, table, mode)[0]
    if deployment_rounds > 0:
        # The same FedAvg on Flower's Deployment Engine: a SuperLink and 3 SuperNodes on loopback, each node
        # holding a third of the authors and training all of them every round (so a round is ~26x the work
        # of a simulated round of 50 clients); its seconds per round are the point, not its AUC.
        from mleditor.federated.deployment import run_deployment

        name = "fedavg, Deployment Engine (3 SuperNodes)"
        result = run_deployment(partition, table, replace(base, rounds=deployment_rounds, clients_per_round=3,
                                                          round_timeout_s=600.0), supernodes=3)
        runs[name] = result.summary
        scores[name] = personalized_logits(result.weights, partition, table, "none")[0]
    return scores, runs


def rounds_to(target: float, aucs: list[float | None]) -> int | None:
    """The first round whose held-out AUC reaches `target` (it may fall back later: see `final_auc`)."""
    return next((r for r, auc in enumerate(aucs) if auc is not None and auc >= target), None)


def final_auc(aucs: list[float | None], last: int = 5) -> float | None:
    """The mean held-out AUC of the last `last` rounds: where the run ended, not one lucky round."""
    tail = [auc for auc in aucs[-last:] if auc is not None]
    return float(np.mean(tail)) if tail else None


def measure(dataset: Path, epochs: int | None, rounds: int = 0, per_round: int = 10, local_epochs: int = 2,
            learning_rate: float = 0.01, dp: tuple[float, float] = (1.0, 0.1),
            secagg_rounds: int | None = None, deployment_rounds: int = 0) -> dict[str, Any]:
    train_config = TrainConfig.from_dict(json.loads(SHIPPED_META.read_text(encoding="utf-8"))["training"])
    network = train_config.network if epochs is None else replace(train_config.network, epochs=epochs)
    split = train_config.split
    partition = partition_authors(read_dataset(dataset), PartitionConfig(seed=split.seed, label_mode=split.label_mode,
                                                                         min_group=split.min_group))
    table = featurize_records(partition.records)
    tune = tune_mask(partition, split.seed)
    fit = partition.mask("train") & ~tune
    started = time.perf_counter()
    net, report = fit_network(table.rows(fit), partition.labels[fit], table.rows(tune), partition.labels[tune], network)
    train_seconds = time.perf_counter() - started
    logits = network_logits(net, table).astype(np.float64)
    scores = {"centralized": logits}
    for lag in LAGS_DAYS:
        scores[f"+ user features, N = {lag} d"] = stacked_scores(logits, partition, tune, lag, split.seed)
    runs: dict[str, Any] = {}
    if rounds > 0:
        from mleditor.federated.server_app import ServerConfig

        base = ServerConfig(clients_per_round=per_round, local_epochs=local_epochs, learning_rate=learning_rate,
                            seed=split.seed)
        federated, runs = federated_scores(partition, table, rounds, base, dp, secagg_rounds or rounds,
                                           deployment_rounds)
        scores.update(federated)
        held = partition.mask("heldout")
        target = 0.95 * roc_auc(partition.labels[held], logits[held])
        for run in runs.values():
            run["target_roc_auc"] = round(target, 4)
            run["rounds_to_95pct_of_centralized"] = rounds_to(target, run["roc_auc_per_round"])
            run["final_roc_auc_last_5_rounds"] = final_auc(run["roc_auc_per_round"])
    rows = [{"set": name, "n": int(mask.sum()), "positive_rate": round(float(partition.labels[mask].mean()), 3),
             "roc_auc": {method: auc_or_none(partition.labels[mask], s[mask]) for method, s in scores.items()}}
            for name, mask in evaluation_sets(partition).items()]
    return {"questions": len(partition.records), "authors": len(set(partition.authors.tolist())),
            "train": int(fit.sum()), "tune": int(tune.sum()), "network": {**vars(network)},
            "best_epoch": report["best_epoch"], "train_seconds": round(train_seconds, 1), "rows": rows,
            "federated": runs}


def markdown(report: dict[str, Any]) -> str:
    result = report["result"]
    methods = list(result["rows"][0]["roc_auc"])
    lines = [f"command: `.venv/bin/python {report['command']}`  ", f"date: {report['date']}  ",
             f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores", "",
             (f"{result['questions']:,} author questions, {result['authors']:,} authors; network trained on "
              f"{result['train']:,} earlier questions, tuned on {result['tune']:,} (best epoch {result['best_epoch']} "
              f"of {result['network']['epochs']}, {result['train_seconds']:.0f} s)"), "",
             "| ROC AUC | n | positive | " + " | ".join(methods) + " |",
             "|---|---:|---:|" + "---:|" * len(methods)]
    for row in result["rows"]:
        cells = ["n/a" if v is None else f"{v:.3f}" for v in row["roc_auc"].values()]
        lines.append(f"| {row['set']} | {row['n']:,} | {row['positive_rate']:.2f} | " + " | ".join(cells) + " |")
    if result.get("federated"):
        header = ("| federated run | clients | per round | rounds | best AUC | final AUC (mean of last 5 rounds) "
                  "| first round at 95 % of centralized | epsilon (delta) | bytes / client / round (up) "
                  "| s / round (median) |")
        lines += ["", header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, run in result["federated"].items():
            lines.append(federated_row(name, run))
        fedavg = result["federated"].get("fedavg", {})
        first, final = fedavg.get("rounds_to_95pct_of_centralized"), fedavg.get("final_roc_auc_last_5_rounds")
        target = fedavg.get("target_roc_auc", float("nan"))
        held = first is not None and first <= 50 and final is not None and final >= target
        lines += ["", (f"goal FedAvg >= 95 % of centralized ROC AUC ({target:.3f}) within 50 rounds, and held: "
                       f"{'met' if held else 'not met'} (first reached in round {'never' if first is None else first}; "
                       f"the last 5 rounds average "
                       f"{'n/a' if final is None else f'{final:.3f}'})")]
    return "\n".join(lines) + "\n"


def federated_row(name: str, run: dict[str, Any]) -> str:
    per_round = run["seconds_per_round"]
    dp = run.get("privacy", {}).get("differential_privacy")
    eps = f"{dp['epsilon']:.2f} ({dp['delta']:g})" if dp else "-"
    aucs = [a for a in run["roc_auc_per_round"] if a is not None]
    final = run.get("final_roc_auc_last_5_rounds")
    first = run["rounds_to_95pct_of_centralized"]
    return (f"| {name} | {run['clients']:,} | {run['config']['clients_per_round']} | {run['rounds']} | "
            f"{max(aucs) if aucs else float('nan'):.3f} | {'n/a' if final is None else f'{final:.3f}'} | "
            f"{'never' if first is None else first} | {eps} | "
            f"{run['bytes_per_client_per_round']['up']:,} | {float(np.median(per_round)) if per_round else 0:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="a dataset file (`mleditor data ingest`); default: stackexchange/")
    parser.add_argument("--epochs", type=int, help="network epochs (default: the shipped model's)")
    parser.add_argument("--rounds", type=int, default=0, help="federated rounds (0: rows 1-2 only)")
    parser.add_argument("--clients-per-round", type=int, default=10)
    parser.add_argument("--local-epochs", type=int, default=2, help="each federated client's passes per round")
    parser.add_argument("--learning-rate", type=float, default=0.01, help="each federated client's Adam rate")
    parser.add_argument("--dp-noise", type=float, default=1.0, help="the DP row's noise multiplier sigma")
    parser.add_argument("--dp-clip", type=float, default=0.1, help="the DP row's clipping norm C")
    parser.add_argument("--secagg-rounds", type=int, help="the SecAgg+ row's rounds (default: --rounds)")
    parser.add_argument("--deployment-rounds", type=int, default=0,
                        help="rounds of FedAvg on the loopback Deployment Engine (0: skip)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--save", type=Path, help="also write the report as JSON to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(dataset_path(args.dataset, Path(tmp)), args.epochs, args.rounds, args.clients_per_round,
                         args.local_epochs, args.learning_rate, (args.dp_noise, args.dp_clip), args.secagg_rounds,
                         args.deployment_rounds)
    federated = args.rounds > 0
    given = (("dataset", args.dataset), ("epochs", args.epochs), ("rounds", args.rounds or None),
             ("clients-per-round", args.clients_per_round if federated else None),
             ("local-epochs", args.local_epochs if federated else None),
             ("learning-rate", args.learning_rate if federated else None),
             ("dp-noise", args.dp_noise if federated else None), ("dp-clip", args.dp_clip if federated else None),
             ("secagg-rounds", args.secagg_rounds if federated else None),
             ("deployment-rounds", args.deployment_rounds or None))
    flags = "".join(f" --{k} {v}" for k, v in given if v is not None)
    report = {"command": f"benchmarks/bench_federated.py{flags}", "date": time.strftime("%Y-%m-%d"),
              "machine": machine_info(), "result": result}
    if args.save is not None:
        args.save.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1) if args.json else markdown(report))


if __name__ == "__main__":
    main()
