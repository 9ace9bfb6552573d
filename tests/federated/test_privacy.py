"""What leaves a client, with differential privacy and with SecAgg+: two short simulations, every message recorded.

A recording mod wraps each client outermost and pickles each message it receives and each reply
it sends; the tests read them back. The DP run (3 of 8 authors per round, 2 rounds) checks that a
reply holds only the network's named float arrays and numeric counts, that the update is clipped
to C on the client, that the server's noise lands on the average (and not on the untrained arrays),
and that the ε reported is the accountant's. The SecAgg+ run (all 8 authors, 1 round) also records
inside `secaggplus_mod`, where the plaintext update passes, to show the masked vector is unreadable
while the aggregate is FedAvg's within the quantization bound.
"""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch", reason="federated training needs torch (the 'train' extra)")
pytest.importorskip("flwr", reason="federated training needs Flower: pip install 'mleditor[federated]'")
pytest.importorskip("dp_accounting", reason="the DP accountant: pip install 'mleditor[federated]'")

import dp_accounting
from flwr.common import bytes_to_ndarray
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key

from mleditor.federated.client_app import ClientShards
from mleditor.federated.partition import PartitionConfig, partition_authors
from mleditor.federated.privacy import epsilon
from mleditor.federated.server_app import FIXED_ARRAYS, RunRecord, ServerConfig
from mleditor.federated.simulation import QUIET_ENV, TrafficLog, initial_weights, simulate
from mleditor.training.train import featurize_records
from tests.federated.synthetic import authored

pytestmark = [pytest.mark.slow,
              # Ray's raylet start leaves /dev/null open (ResourceWarning surfacing as an unraisable exception).
              pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning",
                                         "ignore::ResourceWarning")]
NOISE, CLIP, PER_ROUND, ROUNDS = 1.0, 0.05, 3, 2


def recorder(directory: Path, where: str) -> Any:
    """A client mod pickling each (received, sent) message pair into `directory` (a closure: Ray ships it by value)."""

    def snapshot(content: Any) -> dict[str, Any]:
        return {"arrays": {key: {name: array.numpy() for name, array in record.items()}
                           for key, record in content.array_records.items()},
                "metrics": {key: dict(record) for key, record in content.metric_records.items()},
                "configs": {key: dict(record) for key, record in content.config_records.items()}}

    def mod(msg: Any, context: Any, call_next: Any) -> Any:
        reply = call_next(msg, context)
        entry = {"where": where, "node": context.node_id, "partition": int(context.node_config["partition-id"]),
                 "type": msg.metadata.message_type, "group": msg.metadata.group_id,
                 "received": snapshot(msg.content), "sent": snapshot(reply.content) if reply.has_content() else None}
        (directory / f"{where}-{uuid.uuid4().hex}.pkl").write_bytes(pickle.dumps(entry))
        return reply

    return mod


def recorded(directory: Path, where: str) -> list[dict[str, Any]]:
    return [pickle.loads(path.read_bytes()) for path in sorted(directory.glob(f"{where}-*.pkl"))]


@pytest.fixture(scope="module")
def quiet_env():
    patch = pytest.MonkeyPatch()
    for name, value in QUIET_ENV.items():
        patch.setenv(name, value)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def partition_and_table():
    partition = partition_authors(authored(64, 8, seed=5, lonely=False), PartitionConfig(min_group=1, unseen_fraction=0.0))
    return partition, featurize_records(partition.records)


@pytest.fixture(scope="module")
def dp_run(quiet_env, partition_and_table, tmp_path_factory):
    partition, table = partition_and_table
    directory = tmp_path_factory.mktemp("dp-messages")
    config = ServerConfig(rounds=ROUNDS, clients_per_round=PER_ROUND, dp_noise=NOISE, dp_clip=CLIP)
    result = simulate(partition, table, config, on_round=None, client_mods=[recorder(directory, "out")])
    return result, recorded(directory, "out")


def reference_shapes(partition_and_table) -> dict[str, tuple[int, ...]]:
    partition, table = partition_and_table
    initial = initial_weights(table, partition.clients(), ServerConfig(), 8, 16)
    return {name: value.shape for name, value in initial.items()}


def test_a_dp_client_sends_only_the_networks_named_float_arrays_and_numeric_counts(dp_run, partition_and_table):
    _, messages = dp_run
    shapes = reference_shapes(partition_and_table)
    assert len(messages) == ROUNDS * PER_ROUND and {m["type"] for m in messages} == {"train"}
    for message in messages:
        sent = message["sent"]
        assert set(sent) == {"arrays", "metrics", "configs"} and sent["configs"] == {}
        assert list(sent["arrays"]) == ["arrays"] and list(sent["metrics"]) == ["metrics"]
        arrays = sent["arrays"]["arrays"]
        assert {name: value.shape for name, value in arrays.items()} == shapes
        assert all(value.dtype == np.float32 for value in arrays.values())  # no n-gram id (int) array
        metrics = sent["metrics"]["metrics"]
        assert set(metrics) == {"num-examples", "train-loss"}
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in metrics.values())


def test_with_dp_each_update_leaves_the_client_clipped_to_the_clipping_norm(dp_run):
    _, messages = dp_run
    norms = []
    for message in messages:
        received, sent = message["received"]["arrays"]["arrays"], message["sent"]["arrays"]["arrays"]
        assert message["received"]["configs"]["config"]["clipping_norm"] == CLIP  # the wrapper sends C
        norms.append(np.sqrt(sum(float(np.sum((sent[n].astype(np.float64) - received[n]) ** 2)) for n in sent)))
    assert max(norms) <= CLIP * (1 + 1e-3)  # float32 rounding of received + update
    assert min(norms) > 0.99 * CLIP  # the local updates are larger than C here: every one was scaled down


def test_with_dp_the_server_adds_noise_to_the_average_and_none_to_the_untrained_arrays(dp_run):
    _, messages = dp_run
    first = [m for m in messages if m["received"]["configs"]["config"]["server-round"] == 1]
    second = [m for m in messages if m["received"]["configs"]["config"]["server-round"] == 2]
    sent = first[0]["received"]["arrays"]["arrays"]
    released = second[0]["received"]["arrays"]["arrays"]  # the round-1 global weights
    updates = [m["sent"]["arrays"]["arrays"] for m in first]
    noise = []
    for name in ("w1", "b1", "w2"):
        mean = sent[name] + sum(u[name].astype(np.float64) - sent[name] for u in updates) / PER_ROUND
        noise.append((released[name] - mean).ravel())
    # Pooled: b1 and w2 alone hold 16 values each, too few for a standard deviation within 35 % (it failed once).
    assert np.std(np.concatenate(noise)) == pytest.approx(NOISE * CLIP / PER_ROUND, rel=0.35)
    for name in FIXED_ARRAYS:
        assert np.array_equal(released[name], sent[name])
    assert not released["wide"][0] and not np.any(released["embedding"][0])


def test_the_epsilon_reported_is_the_accountants_for_the_rounds_and_sampling_rate_run(dp_run, partition_and_table):
    result, _ = dp_run
    clients = len(partition_and_table[0].clients())
    dp = result.summary["privacy"]["differential_privacy"]
    assert dp["releases"] == ROUNDS and dp["sampled"] == PER_ROUND and dp["population"] == clients
    accountant = dp_accounting.rdp.RdpAccountant(neighboring_relation=dp_accounting.NeighboringRelation.REPLACE_ONE)
    accountant.compose(dp_accounting.SampledWithoutReplacementDpEvent(
        clients, PER_ROUND, dp_accounting.GaussianDpEvent(NOISE / 2)), ROUNDS)  # replace-one: sensitivity 2C
    assert dp["epsilon"] == pytest.approx(accountant.get_epsilon(dp["delta"]), rel=1e-12)
    assert dp["delta"] == ServerConfig().dp_delta and result.summary["privacy"]["secagg"] is None


def test_epsilon_falls_with_more_noise_and_grows_with_rounds_and_sampling_rate():
    base = epsilon(1.0, 20, 1000, 50, 1e-5)
    assert epsilon(2.0, 20, 1000, 50, 1e-5) < base < epsilon(0.7, 20, 1000, 50, 1e-5)
    assert epsilon(1.0, 20, 1000, 10, 1e-5) < base < epsilon(1.0, 20, 1000, 100, 1e-5)
    assert base < epsilon(1.0, 100, 1000, 50, 1e-5)
    assert epsilon(1.0, 20, 1000, 0, 1e-5) == 0.0


@pytest.fixture(scope="module")
def secagg_run(quiet_env, partition_and_table, tmp_path_factory):
    """One SecAgg+ round over every author, recorded outside `secaggplus_mod` ("out") and inside it ("in")."""
    from flwr.simulation import run_simulation

    from mleditor.federated import secagg

    partition, table = partition_and_table
    clients = partition.clients()
    directory = tmp_path_factory.mktemp("secagg-messages")
    config = ServerConfig(rounds=1, clients_per_round=len(clients), secagg=True)
    initial = initial_weights(table, clients, config, 8, 16)
    shards = ClientShards.build(table.ngram_ids, table.dense, partition.labels, clients)
    data_path = str(shards.save(directory / "clients.npz"))
    record = RunRecord()
    largest = float(max(len(rows) for rows in clients.values()))
    server = secagg.make_server_app(initial, config, data_path, len(clients),
                                    lambda r, w: {"roc_auc": float("nan"), "seconds": 0.0}, record, largest)
    traffic = TrafficLog(str(directory))
    client = secagg.ClientApp(client_fn=secagg.client_fn, mods=[recorder(directory, "out"), traffic,
                                                                secagg.secaggplus_mod, recorder(directory, "in")])
    run_simulation(server_app=server, client_app=client, num_supernodes=len(clients),
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": 2, "log_to_driver": False}})
    assert traffic.per_client_round()["client_rounds"] == len(clients)  # four stages, one client-round each
    return config, initial, record, largest, recorded(directory, "out"), recorded(directory, "in")


def test_with_secagg_no_reply_carries_an_array_and_the_masked_vector_is_unreadable(secagg_run):
    config, _, _, _, outside, inside = secagg_run
    assert outside and all(not any(m["sent"]["arrays"].values()) for m in outside)  # arrays cleared, none sent
    plain = {m["partition"]: m["sent"]["arrays"]["fitres.parameters"] for m in inside}
    masked = {m["partition"]: m["sent"]["configs"][RECORD_KEY_CONFIGS][Key.MASKED_PARAMETERS] for m in outside
              if Key.MASKED_PARAMETERS in m["sent"]["configs"].get(RECORD_KEY_CONFIGS, {})}
    assert set(masked) == set(plain) and len(masked) == len(inside)
    for partition, blobs in masked.items():
        vectors = [bytes_to_ndarray(b) for b in blobs][1:]  # the first is the (masked) weight
        update = np.concatenate([a.ravel() for a in plain[partition].values()]).astype(np.float64)
        flat = np.concatenate([v.ravel() for v in vectors]).astype(np.float64)
        assert flat.shape == update.shape
        # Unmasked, a quantized value lies in [0, 2**22); masked, values fill [0, 2**32).
        assert np.mean(flat >= 2**22) > 0.9
        dequantized = flat * (2 * config.secagg_range / 2**22) - config.secagg_range
        assert abs(np.corrcoef(dequantized, update)[0, 1]) < 0.02
        assert np.max(np.abs(dequantized - update)) > 100 * config.secagg_range


def test_with_secagg_the_aggregate_is_fedavg_of_the_same_updates_within_the_quantization_bound(secagg_run):
    from mleditor.federated.secagg import quantization_bound

    config, initial, record, largest, _, inside = secagg_run
    assert record.rejected == [] and record.released == 1 and record.weights is not None
    names = list(initial)
    counts = [float(m["sent"]["metrics"]["fitres.num_examples"]["num_examples"]) for m in inside]
    updates = [list(m["sent"]["arrays"]["fitres.parameters"].values()) for m in inside]
    bound = quantization_bound(len(inside), config.secagg_range, counts, largest)
    worst = 0.0
    for i, name in enumerate(names):
        mean = sum(c * u[i].astype(np.float64) for c, u in zip(counts, updates, strict=True)) / sum(counts)
        fedavg = initial[name] + mean.reshape(initial[name].shape)
        worst = max(worst, float(np.max(np.abs(record.weights[name] - fedavg), initial=0.0)))
    assert worst <= bound + 1e-6  # + float32 rounding of the weights
    assert bound < 1e-4
