"""Federated training in Flower's simulation engine: a few rounds over a handful of synthetic authors."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

pytest.importorskip("torch", reason="federated training needs torch (the 'train' extra)")
pytest.importorskip("flwr", reason="federated training needs Flower: pip install 'mleditor[federated]'")

from flwr.app import Message, MetricRecord, RecordDict

from mleditor.core.records import QuestionRecord
from mleditor.core.registry import load_model_directory
from mleditor.federated.client_app import ClientShards, to_arrays
from mleditor.federated.output import write_federated_model
from mleditor.federated.partition import PartitionConfig, partition_authors
from mleditor.federated.personalize import personal_bias, personalized_logits
from mleditor.federated.server_app import ServerConfig, screen_replies
from mleditor.federated.simulation import simulate
from mleditor.training.train import featurize_records
from tests.helpers import make_questions


@pytest.fixture(autouse=True)
def quiet_flower(monkeypatch):
    from mleditor.federated.simulation import QUIET_ENV

    for name, value in QUIET_ENV.items():
        monkeypatch.setenv(name, value)


def authored(count: int, authors: int) -> list[QuestionRecord]:
    """Synthetic questions, author k asking every `authors`-th one, plus one author with a single question."""
    questions = make_questions(count, seed=3)
    records = [QuestionRecord(site="beer", id=q["question_id"], title=q["title"], body=q["body"], score=(i * 7) % 5,
                              creation_date=(datetime(2015, 1, 1) + timedelta(days=i)).isoformat(timespec="seconds"),
                              owner_id=i % authors, owner_name=None) for i, q in enumerate(questions)]
    return [*records, QuestionRecord(site="beer", id=10_000, title="Lonely", body="Only one question here.",
                                     score=1, creation_date="2016-01-01T00:00:00", owner_id=999, owner_name=None)]


@pytest.mark.slow
# Ray's raylet start leaves /dev/null open (ResourceWarning surfacing as an unraisable exception).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")
def test_a_short_simulation_writes_a_model_directory_that_loads_and_scores(tmp_path):
    partition = partition_authors(authored(48, 8), PartitionConfig(min_group=1, unseen_fraction=0.0))
    table = featurize_records(partition.records)
    assert 1 in [len(rows) for rows in partition.clients().values()]  # the one-question author is a client
    result = simulate(partition, table, ServerConfig(rounds=2, clients_per_round=3), on_round=None)
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


def test_an_update_with_nan_or_the_wrong_shape_is_rejected_and_the_others_kept():
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
