"""Federated training in Flower's simulation engine: a few rounds over a handful of synthetic authors."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("torch", reason="federated training needs torch (the 'train' extra)")
pytest.importorskip("flwr", reason="federated training needs Flower: pip install 'mleditor[federated]'")

from flwr.app import Message, MetricRecord, RecordDict

from mleditor.core.registry import load_model_directory
from mleditor.federated.checkpoint import Checkpoint, load_checkpoint, run_fingerprint, save_checkpoint
from mleditor.federated.client_app import ClientShards, to_arrays
from mleditor.federated.output import write_federated_model
from mleditor.federated.partition import PartitionConfig, partition_authors
from mleditor.federated.personalize import personal_bias, personalized_logits
from mleditor.federated.server_app import (
    PrivateFedAvg,
    PrivateStrategy,
    ScreenedFedAdam,
    ServerConfig,
    make_strategy,
    restore_fixed,
    screen_replies,
)
from mleditor.federated.simulation import simulate
from mleditor.training.train import featurize_records
from tests.federated.synthetic import authored


@pytest.fixture
def run_identity(monkeypatch):
    """A run id for building Messages outside a run (a simulation in this process sets one; alone, none is set)."""
    from flwr.supercore.task_identity import TaskIdentity

    for name in ("_run_id", "_node_id", "_task_id"):
        monkeypatch.setattr(TaskIdentity, name, getattr(TaskIdentity, name) or 1)


@pytest.mark.slow
# Ray's raylet start leaves /dev/null open (ResourceWarning surfacing as an unraisable exception).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")
def test_a_short_simulation_writes_a_model_directory_that_loads_and_scores(tmp_path):
    partition = partition_authors(authored(48, 8), PartitionConfig(min_group=1, unseen_fraction=0.0))
    table = featurize_records(partition.records)
    assert 1 in [len(rows) for rows in partition.clients().values()]  # the one-question author is a client
    checkpoint = tmp_path / "checkpoint.npz"
    result = simulate(partition, table, ServerConfig(rounds=2, clients_per_round=3), on_round=None,
                      checkpoint=checkpoint)
    assert result.summary["rounds"] == 2 and len(result.summary["roc_auc_per_round"]) == 3
    assert result.summary["rejected_updates"] == []
    assert result.weights["embedding"].shape[1] == 8 and result.weights["w1"].shape[1] == 16
    assert all(np.all(np.isfinite(value)) for value in result.weights.values())
    _, heads = personalized_logits(result.weights, partition, table, "head")
    directory = write_federated_model(tmp_path, result, partition, table, heads, "head")
    model = load_model_directory(directory)
    assert (directory / "personal.json").is_file() and (directory / "card.md").is_file()
    from mleditor.core.predictor import Predictor
    from mleditor.core.records import Question

    prediction = Predictor.load(str(model.path)).predict(Question("Flat beer?", "My beer is flat."), "v2")
    assert 0.0 <= prediction.score <= 1.0

    # The checkpoint holds round 2's global model; a resumed run starts from exactly it and goes on to round 3.
    fingerprint = run_fingerprint(ServerConfig(rounds=2, clients_per_round=3), partition, embed_dim=8, hidden=16)
    saved = load_checkpoint(checkpoint, fingerprint, result.weights)
    assert saved.round == 2 and all(np.array_equal(saved.weights[k], v) for k, v in result.weights.items())
    resumed = simulate(partition, table, ServerConfig(rounds=3, clients_per_round=3), on_round=None,
                       checkpoint=checkpoint, resume=True)
    assert resumed.summary["resumed_from_round"] == 2 and len(resumed.summary["roc_auc_per_round"]) == 2
    assert resumed.summary["roc_auc_per_round"][0] == result.summary["roc_auc_per_round"][-1]  # the same model
    assert load_checkpoint(checkpoint, fingerprint, result.weights).round == 3


def test_an_update_with_nan_or_the_wrong_shape_is_rejected_and_the_others_kept(run_identity):
    reference = {"w": (2, 2)}

    def reply(value: np.ndarray, examples: int = 3) -> Message:
        content = RecordDict({"arrays": to_arrays({"w": value}), "metrics": MetricRecord({"num-examples": examples})})
        return Message(content=content, dst_node_id=1, message_type="train")

    rejected: list[str] = []
    replies = [reply(np.ones((2, 2))), reply(np.full((2, 2), np.nan)), reply(np.ones((3, 2))),
               reply(np.ones((2, 2)), examples=0)]
    kept = screen_replies(replies, reference, rejected.append)
    assert kept == replies[:1]
    assert ["non-finite" in why for why in rejected] == [True, False, False]
    assert "shape" in rejected[1] and "num-examples" in rejected[2]


def test_shards_give_each_client_only_its_own_rows(tmp_path):
    ids = [np.array([1, 2]), np.array([3]), np.array([4, 5, 6])]
    shards = ClientShards.build(ids, np.eye(3, dtype=np.float32), np.array([0, 1, 1]),
                                {"a": np.array([2]), "b": np.array([0, 1])})
    loaded = ClientShards.load(shards.save(tmp_path / "clients.npz"))
    assert loaded.client(0).ngram_ids.tolist() == [[4, 5, 6]]
    assert loaded.client(1).ngram_ids.tolist() == [[1, 2], [3, 0]] and loaded.client(1).labels.tolist() == [0, 1]
    with pytest.raises(ValueError, match="partition-id 2"):
        loaded.client(2)


def test_a_personal_bias_moves_toward_the_authors_labels_and_shrinks_with_few_questions():
    assert personal_bias(np.zeros(10), np.ones(10)) > personal_bias(np.zeros(1), np.ones(1)) > 0
    assert personal_bias(np.zeros(10), np.zeros(10)) < 0


def train_reply(value: np.ndarray, examples: int = 3) -> Message:
    content = RecordDict({"arrays": to_arrays({"w": value}), "metrics": MetricRecord({"num-examples": examples})})
    return Message(content=content, dst_node_id=1, message_type="train")


def test_fedadam_steps_toward_the_kept_updates_and_drops_a_nan_one(run_identity):
    initial = {"w": np.zeros((2, 2), dtype=np.float32)}
    strategy = make_strategy(ServerConfig(strategy="fedadam", clients_per_round=2, adam_learning_rate=0.1),
                             nodes=4, initial=initial)
    assert isinstance(strategy, ScreenedFedAdam) and strategy.eta == 0.1
    strategy.current_arrays = dict(initial)  # what configure_train records
    arrays, _ = strategy.aggregate_train(1, [train_reply(np.ones((2, 2))), train_reply(np.full((2, 2), np.nan))])
    step = arrays["w"].numpy()
    assert np.all(np.isfinite(step)) and np.all(step > 0) and len(strategy.rejected) == 1


def test_with_dp_the_average_counts_every_sampled_client_once_and_a_rejected_one_as_no_change(run_identity):
    initial = {"w": np.zeros((2, 2), dtype=np.float32)}
    strategy = make_strategy(ServerConfig(clients_per_round=4, dp_noise=1.0, dp_clip=0.5), nodes=10, initial=initial)
    assert isinstance(strategy, PrivateStrategy) and strategy.num_sampled_clients == 4
    inner = strategy.inner
    assert isinstance(inner, PrivateFedAvg)
    inner.sent = dict(initial)
    arrays, _ = inner.aggregate_train(1, [train_reply(np.ones((2, 2)), examples=100), train_reply(np.ones((2, 2))),
                                          train_reply(np.full((2, 2), np.nan))])
    # Two kept updates of 1 over K = 4: the 100-example client weighs as much as the other, the NaN one as zero.
    assert np.allclose(arrays["w"].numpy(), 0.5) and len(strategy.rejected) == 1


def test_noise_is_taken_off_the_untrained_arrays_and_the_padding_rows():
    sent = {"dense_mean": np.ones(3, np.float32), "wide": np.zeros(4, np.float32),
            "embedding": np.zeros((4, 2), np.float32), "w1": np.zeros(2, np.float32)}
    noised = {name: value + 0.3 for name, value in sent.items()}
    restored = restore_fixed(noised, sent)
    assert np.array_equal(restored["dense_mean"], sent["dense_mean"]) and np.allclose(restored["w1"], 0.3)
    assert restored["wide"][0] == 0 and np.allclose(restored["wide"][1:], 0.3) and not restored["embedding"][0].any()


@pytest.mark.parametrize(("settings", "named"), [
    ({"dp_noise": 1.0}, "dp_clip=None"),
    ({"dp_clip": 0.5}, "dp_noise=None"),
    ({"dp_noise": 0.0, "dp_clip": 0.5}, "dp_noise=0.0"),
    ({"dp_noise": 1.0, "dp_clip": 0.5, "strategy": "fedadam"}, "strategy='fedadam' with dp_noise"),
    ({"secagg": True, "strategy": "fedavgm"}, "secagg=True"),
    ({"secagg": True, "dp_noise": 1.0, "dp_clip": 0.5}, "secagg=True"),
    ({"secagg": True, "clients_per_round": 2}, "clients_per_round=2"),
    ({"secagg": True, "secagg_threshold": 5}, "secagg_threshold=5"),
    ({"strategy": "fedyogi"}, "strategy='fedyogi'"),
    ({"adam_learning_rate": 0.0}, "adam_learning_rate=0.0"),
    ({"dp_delta": 1.0}, "dp_delta=1.0"),
])
def test_a_bad_privacy_or_strategy_setting_is_refused_in_one_line_naming_it(settings, named):
    with pytest.raises(ValueError, match="is not valid") as raised:
        ServerConfig(**settings)
    assert named in str(raised.value) and "\n" not in str(raised.value)


def test_the_cli_refuses_dp_with_fedadam_in_one_line_before_reading_the_dataset(tmp_path):
    from tests.helpers import run_mleditor

    done = run_mleditor("federated", "run", "--dataset", str(tmp_path / "missing.sqlite"), "--strategy", "fedadam",
                        "--dp-noise", "1.0", "--dp-clip", "0.5")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        ("error: federated strategy='fedadam' with dp_noise is not valid; expected fedavg (a server optimizer's "
        "state would carry un-noised averages across rounds)")]


@pytest.mark.parametrize(("args", "message"), [
    (["--engine", "cluster"], "error: unknown --engine 'cluster'; choose one of simulation, deployment"),
    (["--engine", "deployment", "--secagg"],
     ("error: --secagg, --dp-noise/--dp-clip and --resume run in the simulation engine only; drop them or use "
     "--engine simulation")),
    (["--engine", "deployment", "--supernodes", "3", "--min-nodes", "4"],
     "error: federated min_nodes=4 is not valid; expected 1..--supernodes"),
], ids=["unknown-engine", "deployment-with-secagg", "min-nodes-above-supernodes"])
def test_the_cli_refuses_a_bad_engine_setting_in_one_line_before_reading_the_dataset(tmp_path, args, message):
    from tests.helpers import run_mleditor

    done = run_mleditor("federated", "run", "--dataset", str(tmp_path / "missing.sqlite"), *args)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [message], done.stderr


def test_a_checkpoint_of_another_run_or_with_a_broken_array_is_refused_not_trained_on(tmp_path):
    from mleditor.errors import InvalidInputError

    partition = partition_authors(authored(24, 4), PartitionConfig(min_group=1, unseen_fraction=0.0))
    config = ServerConfig(rounds=3, clients_per_round=2)
    mine = run_fingerprint(config, partition, embed_dim=8, hidden=16)
    assert run_fingerprint(replace(config, rounds=9), partition, embed_dim=8, hidden=16) == mine  # rounds may grow
    assert run_fingerprint(replace(config, learning_rate=0.5), partition, embed_dim=8, hidden=16) != mine
    weights = {"w": np.ones((2, 2), dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}
    path = save_checkpoint(tmp_path / "c.npz", Checkpoint(1, mine, weights))
    assert load_checkpoint(path, mine, weights).round == 1
    cases = {
        "other data or settings": (Checkpoint(1, "another run", weights), weights),
        "shape": (Checkpoint(1, mine, {**weights, "w": np.ones((3, 2), dtype=np.float32)}), weights),
        "non-finite": (Checkpoint(1, mine, {**weights, "b": np.array([np.nan, 0.0], dtype=np.float32)}), weights),
    }
    for message, (checkpoint, reference) in cases.items():
        save_checkpoint(path, checkpoint)
        with pytest.raises(InvalidInputError, match=message):
            load_checkpoint(path, mine, reference)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InvalidInputError, match="not a readable checkpoint"):
        load_checkpoint(path, mine, weights)
    with pytest.raises(InvalidInputError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.npz", mine, weights)
