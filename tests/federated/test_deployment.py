"""Federated training on Flower's Deployment Engine: a real SuperLink and SuperNodes on loopback.

Each run starts a fresh ClientApp process per node per round (torch imported each time, ~5-10 s),
so the runs are as short as they can be: two rounds, and one round for the killed node.
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="federated training needs torch (the 'train' extra)")
pytest.importorskip("flwr", reason="federated training needs Flower: pip install 'mleditor[federated]'")

from mleditor.core.registry import load_model_directory
from mleditor.federated.client_app import ClientShards
from mleditor.federated.deployed_apps import Plan
from mleditor.federated.deployment import (
    DeploymentError,
    deal_authors,
    free_ports,
    run_deployment,
    write_app,
    write_shards,
)
from mleditor.federated.output import write_federated_model
from mleditor.federated.partition import Partition, PartitionConfig, partition_authors
from mleditor.federated.server_app import ServerConfig
from mleditor.federated.simulation import initial_weights
from mleditor.training.train import FeatureTable, featurize_records
from tests.federated.synthetic import authored

SIMULATION_KEYS = {"config", "clients", "client_questions", "rounds", "roc_auc_per_round", "seconds_per_round",
                   "bytes_per_client_per_round", "rejected_updates", "train_loss_per_round", "seconds"}


@pytest.fixture(scope="module")
def authors() -> tuple[Partition, FeatureTable]:
    partition = partition_authors(authored(48, 8), PartitionConfig(min_group=1, unseen_fraction=0.0))
    return partition, featurize_records(partition.records)


def processes_of(workdir: Path) -> list[int]:
    """Live processes whose environment carries this run's FLWR_HOME (what the deployment started, and theirs)."""
    marker = f"FLWR_HOME={workdir.resolve() / 'flwr-home'}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes().split(b"\0") \
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def assert_nothing_left(workdir: Path) -> None:
    deadline = time.monotonic() + 5.0  # a reparented grandchild may take a moment to be reaped
    while processes_of(workdir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_of(workdir) == []


needs_proc = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc to find processes")


def test_each_node_holds_only_its_own_authors(authors, tmp_path):
    partition, table = authors
    clients = partition.clients()
    nodes = deal_authors(clients, 3)
    held = [set(ClientShards.load(path).authors.tolist()) for path in write_shards(tmp_path, table, partition, nodes)]
    assert [len(h) for h in held] == [3, 3, 3] and set().union(*held) == set(clients)
    assert all(not (a & b) for i, a in enumerate(held) for b in held[i + 1:])
    shards = ClientShards.load(tmp_path / "node-0.npz")
    first = next(iter(nodes[0]))
    assert shards.client(0).labels.tolist() == partition.labels[nodes[0][first]].tolist()


def test_the_plan_survives_the_apps_run_config(tmp_path):
    for config in (ServerConfig(rounds=2, clients_per_round=3), ServerConfig(rounds=4, min_nodes=2, round_timeout_s=9.5)):
        plan = Plan(config, 3, "/a/initial.npz", "/a/heldout.npz", "/a/result", wait_for_nodes_s=5.0)
        pyproject = tomllib.loads((write_app(tmp_path, plan.run_config()) / "pyproject.toml").read_text())
        assert Plan.from_run_config(pyproject["tool"]["flwr"]["app"]["config"]) == plan


def test_an_unreachable_superlink_is_a_clear_error_at_once(authors, tmp_path):
    partition, table = authors
    address = f"127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(DeploymentError, match=f"no Flower SuperLink answers at {address}.*start one"):
        run_deployment(partition, table, ServerConfig(rounds=1, clients_per_round=3), superlink=address,
                       workdir=tmp_path, on_round=None)
    assert time.monotonic() - started < 10.0
    assert not (tmp_path / "logs").exists()  # refused before anything started


@pytest.mark.slow
@needs_proc
def test_three_supernodes_train_two_rounds_and_write_a_model_directory_that_loads(authors, tmp_path):
    partition, table = authors
    config = ServerConfig(rounds=2, clients_per_round=3, round_timeout_s=120.0)
    seen: list[int] = []
    result = run_deployment(partition, table, config, supernodes=3, workdir=tmp_path / "run", timeout_s=110.0,
                            on_round=lambda r, metrics: seen.append(r))
    assert_nothing_left(tmp_path / "run")
    assert set(result.summary) >= SIMULATION_KEYS and seen == [0, 1, 2]
    assert len(result.summary["roc_auc_per_round"]) == 3 and result.summary["rejected_updates"] == []
    facts = result.summary["deployment"]
    assert facts["nodes_started"] == 3 and facts["nodes_lost"] == 0 and facts["connected_at_start"] == 3
    assert facts["replies_per_round"] == [3, 3] and facts["failures_per_round"] == [[], []]
    assert facts["authors_per_node"] == [3, 3, 3] and len(facts["round_wall_s"]) == 2
    assert all(np.all(np.isfinite(value)) for value in result.weights.values())
    initial = initial_weights(table, partition.clients(), config, 8, 16)
    assert not np.allclose(result.weights["w1"], initial["w1"])
    directory = write_federated_model(tmp_path / "model", result, partition, table, {}, "none")
    assert load_model_directory(directory).path == directory


@pytest.mark.slow
@needs_proc
def test_a_supernode_killed_mid_round_is_reported_and_the_others_carry_the_round(authors, tmp_path):
    partition, table = authors
    config = ServerConfig(rounds=1, clients_per_round=3, min_nodes=2, round_timeout_s=30.0)
    result = run_deployment(partition, table, config, supernodes=3, kill_node_in_round=1, workdir=tmp_path,
                            timeout_s=110.0, on_round=None)
    assert_nothing_left(tmp_path)
    facts = result.summary["deployment"]
    assert facts["nodes_lost"] == 1 and facts["lost"] == {"2": "killed (SIGKILL) in round 1"}
    assert facts["killed_while_training"] and facts["failure_round"] == 1
    assert facts["sent_per_round"] == [3] and facts["replies_per_round"] == [2]
    assert len(facts["failures_per_round"][0]) == 1  # no reply in 30 s (Flower's heartbeat verdict takes 60 s)
    assert all(np.all(np.isfinite(value)) for value in result.weights.values())
    initial = initial_weights(table, partition.clients(), config, 8, 16)
    assert not np.allclose(result.weights["w1"], initial["w1"])  # the two others' updates were aggregated
