"""`mleditor federated run`: train the network with Flower over authors as clients, in the simulation engine.

    mleditor federated run --dataset data/questions.sqlite --rounds 20 --clients-per-round 20 \\
        --strategy fedavgm --personalize head --output federated/
    mleditor federated run --dataset data/questions.sqlite --rounds 20 --dp-noise 1.0 --dp-clip 0.1
    mleditor federated run --dataset data/questions.sqlite --rounds 20 --secagg

Writes a normal model directory (ONNX, meta.json, card) from the final global weights under
--output, the per-author personal parts beside it (personal-<kind>.json) and summary.json; prints
one line per round and the summary, whose "privacy" names the differential privacy (sigma, C, and
epsilon at delta for the rounds run) and SecAgg+ settings. --dp-noise and --dp-clip go together and
with FedAvg only; --secagg with FedAvg only and without DP. Flower (the `federated` extra) and
torch are imported only here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from mleditor.cli.options import err
from mleditor.errors import InvalidInputError, require_extra

federated_app = typer.Typer(help="Federated learning with Flower: clients are authors.", no_args_is_help=True)


@federated_app.command("run")
def run(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="Dataset file from `mleditor data ingest`."),
    rounds: int = typer.Option(10, min=1, help="Federated rounds."),
    clients_per_round: int = typer.Option(10, "--clients-per-round", min=1, help="Authors sampled per round."),
    strategy: str = typer.Option("fedavg", help="fedavg, fedavgm (server momentum 0.9) or fedadam (server Adam)."),
    personalize: str = typer.Option("none", help="none, finetune (dense layers) or head (per-author bias)."),
    local_epochs: int = typer.Option(2, "--local-epochs", min=1, help="Passes over an author's questions per round."),
    output: Path = typer.Option(Path("federated"), "--output", "-o", help="Folder for the model directory."),
    seed: int = typer.Option(0, help="Seed for the partition, sampling and the network."),
    dp_noise: float | None = typer.Option(None, "--dp-noise", help="DP noise multiplier sigma (with --dp-clip)."),
    dp_clip: float | None = typer.Option(None, "--dp-clip", help="DP clipping norm C of each client's update."),
    secagg: bool = typer.Option(False, "--secagg", help="Secure aggregation (SecAgg+): the server sees only sums."),
) -> None:
    """Train over authors in Flower's simulation engine and write the global model and personal parts."""
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
    try:
        config = ServerConfig(rounds=rounds, clients_per_round=clients_per_round, strategy=strategy,
                              local_epochs=local_epochs, seed=seed, dp_noise=dp_noise, dp_clip=dp_clip, secagg=secagg)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    if config.private:
        require_extra("dp_accounting", "federated")
    partition = partition_authors(read_dataset(dataset), PartitionConfig(seed=seed))
    table = featurize_records(partition.records)
    result = simulate(partition, table, config, on_round=_print_round)
    _, parts = personalized_logits(result.weights, partition, table, personalize)
    directory = write_federated_model(output, result, partition, table, parts, personalize,
                                      data=dataset_fingerprint(dataset))
    err.print(f"model written to {directory}", markup=False, highlight=False, soft_wrap=True)
    sys.stdout.write(json.dumps(result.summary, indent=1) + "\n")


def _print_round(server_round: int, metrics: dict[str, float]) -> None:
    err.print(f"round {server_round:>3}  held-out ROC AUC {metrics['roc_auc']:.4f}  ({metrics['seconds']:.1f} s)",
              markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(federated_app, name="federated")
