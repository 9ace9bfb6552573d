"""`mleditor federated run`: train the network with Flower over authors as clients.

    mleditor federated run --dataset data/questions.sqlite --rounds 20 --clients-per-round 20 \\
        --strategy fedavgm --personalize head --output federated/
    mleditor federated run --dataset data/questions.sqlite --rounds 20 --dp-noise 1.0 --dp-clip 0.1
    mleditor federated run --dataset data/questions.sqlite --rounds 20 --secagg
    mleditor federated run --dataset data/questions.sqlite --rounds 3 --engine deployment --supernodes 3

--engine simulation (default) runs every author as a virtual client in Flower's simulation engine;
the global weights are saved to --output's checkpoint.npz after every round, and --resume goes on
from there (the same dataset and options; refused otherwise, and with DP or SecAgg+);
--engine deployment starts a real Flower deployment on this machine (a SuperLink and --supernodes
SuperNodes on 127.0.0.1, each holding its own authors; `mleditor.federated.deployment`), where a
round goes ahead with --min-nodes when a node drops out. Writes a normal model directory (ONNX,
meta.json, card) from the final global weights under --output, with the per-author heads inside
(`--personalize head`: every door serves them), and summary.json beside it; shows a progress bar of
the rounds (one line per round when stderr is not a terminal) and prints the summary, whose
"privacy" names the differential privacy (sigma, C, and epsilon at delta for the rounds run) and
SecAgg+ settings. --dp-noise and --dp-clip go together and with FedAvg only; --secagg with FedAvg
only and without DP; both in the simulation engine only. Flower (the `federated` extra) and
torch are imported only here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mleditor.cli.options import err
from mleditor.errors import InvalidInputError, require_extra

ENGINES = ("simulation", "deployment")
federated_app = typer.Typer(help="Federated learning with Flower: clients are authors.", no_args_is_help=True)


@federated_app.command("run")
def run(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="Dataset file from `mleditor data ingest`."),
    rounds: int = typer.Option(10, min=1, help="Federated rounds."),
    clients_per_round: int = typer.Option(10, "--clients-per-round", min=1, help="Authors sampled per round."),
    strategy: str = typer.Option("fedavg", help="fedavg, fedavgm (server momentum 0.9) or fedadam (server Adam)."),
    personalize: str = typer.Option("none", help="none, finetune (dense layers) or head (per-author bias)."),
    local_epochs: int = typer.Option(2, "--local-epochs", min=1, help="Passes over an author's questions per round."),
    learning_rate: float = typer.Option(0.01, "--learning-rate", help="Each client's Adam learning rate."),
    output: Path = typer.Option(Path("federated"), "--output", "-o", help="Folder for the model directory."),
    seed: int = typer.Option(0, help="Seed for the partition, sampling and the network."),
    dp_noise: float | None = typer.Option(None, "--dp-noise", help="DP noise multiplier sigma (with --dp-clip)."),
    dp_clip: float | None = typer.Option(None, "--dp-clip", help="DP clipping norm C of each client's update."),
    secagg: bool = typer.Option(False, "--secagg", help="Secure aggregation (SecAgg+): the server sees only sums."),
    engine: str = typer.Option("simulation", help="simulation (virtual clients) or deployment (real processes)."),
    supernodes: int = typer.Option(3, "--supernodes", min=1, help="Deployment: SuperNodes to start."),
    min_nodes: int | None = typer.Option(None, "--min-nodes", min=1,
                                         help="Deployment: a round goes ahead with this many nodes."),
    round_timeout_s: float = typer.Option(600.0, "--round-timeout-s", min=1.0,
                                          help="How long a round waits for its replies."),
    resume: bool = typer.Option(False, "--resume", help="Simulation: go on from --output's checkpoint.npz "
                                "(same dataset and options) up to --rounds."),
) -> None:
    """Train over authors with Flower and write the global model and the per-author parts."""
    require_extra("torch", "train")
    require_extra("flwr", "federated")
    from mleditor.core.dataset import dataset_fingerprint, read_dataset
    from mleditor.federated.output import write_federated_model
    from mleditor.federated.partition import PartitionConfig, partition_authors
    from mleditor.federated.personalize import PERSONALIZE, personalized_logits
    from mleditor.federated.server_app import ServerConfig
    from mleditor.federated.simulation import simulate
    from mleditor.training.train import featurize_records

    if personalize not in PERSONALIZE:
        raise InvalidInputError(f"unknown --personalize {personalize!r}; choose one of {', '.join(PERSONALIZE)}")
    if engine not in ENGINES:
        raise InvalidInputError(f"unknown --engine {engine!r}; choose one of {', '.join(ENGINES)}")
    deployed = engine == "deployment"
    if deployed and (secagg or dp_noise is not None or dp_clip is not None or resume):
        raise InvalidInputError("--secagg, --dp-noise/--dp-clip and --resume run in the simulation engine only; "
                                "drop them or use --engine simulation")
    try:
        config = ServerConfig(rounds=rounds, clients_per_round=supernodes if deployed else clients_per_round,
                              strategy=strategy, local_epochs=local_epochs, learning_rate=learning_rate,
                              seed=seed, dp_noise=dp_noise,
                              dp_clip=dp_clip, secagg=secagg, min_nodes=min_nodes if deployed else None,
                              round_timeout_s=round_timeout_s)
    except ValueError as exc:
        raise InvalidInputError(str(exc).replace("clients_per_round", "--supernodes" if deployed
                                                 else "--clients-per-round")) from None
    if config.private:
        require_extra("dp_accounting", "federated")
    partition = partition_authors(read_dataset(dataset), PartitionConfig(seed=seed))
    table = featurize_records(partition.records)
    with round_progress(rounds) as on_round:
        if deployed:
            from mleditor.federated.deployment import run_deployment

            result = run_deployment(partition, table, config, supernodes=supernodes, on_round=on_round)
        else:
            output.mkdir(parents=True, exist_ok=True)
            result = simulate(partition, table, config, on_round=on_round, checkpoint=output / "checkpoint.npz",
                              resume=resume)
    _, parts = personalized_logits(result.weights, partition, table, personalize)
    directory = write_federated_model(output, result, partition, table, parts, personalize,
                                      data=dataset_fingerprint(dataset))
    err.print(f"model written to {directory}", markup=False, highlight=False, soft_wrap=True)
    sys.stdout.write(json.dumps(result.summary, indent=1) + "\n")


@contextmanager
def round_progress(rounds: int) -> Iterator[Callable[[int, dict[str, float]], None]]:
    """A progress bar of the rounds on stderr (round 0 is the initial model's check); lines when not a terminal."""
    if not err.is_terminal:
        def line(server_round: int, metrics: dict[str, float]) -> None:
            err.print(f"round {server_round:>3}/{rounds}  held-out ROC AUC {metrics['roc_auc']:.4f}  "
                      f"({metrics['seconds']:.1f} s)", markup=False, highlight=False)

        yield line
        return
    with Progress(TextColumn("federated"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=err) as progress:
        task = progress.add_task("starting", total=rounds)

        def advance(server_round: int, metrics: dict[str, float]) -> None:
            progress.update(task, completed=server_round,
                            description=f"held-out ROC AUC {metrics['roc_auc']:.4f} ({metrics['seconds']:.1f} s)")

        yield advance


def register(app: typer.Typer) -> None:
    app.add_typer(federated_app, name="federated")
