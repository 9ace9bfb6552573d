"""Runners: how step 4 puts model inputs through the model. The pipeline is the same for every door;
what differs is how rows are grouped into model calls.

* `DirectRunner` — every row of the given inputs in ONE call, padded to the widest (the CLI, a
  single request, `Predictor.predict_many`); past `DIRECT_MAX_ROWS` rows it bands them as below,
  since padding hundreds of rows to the longest costs more than the extra calls.
* `BandedRunner` — rows grouped by the padded width of their question (a multiple of `band` ids),
  one call per band, bounded in memory; a score never depends on which other questions share the
  chunk (the batch door's local and Ray engines agree exactly).
* the serve door's `MicroBatchRunner` (`mleditor.serve.batching`) — concurrent requests share one
  call.

A runner only sees inputs that need the model: the pipeline answers v1 (rules only) itself.

Example — a runner that counts model calls::

    from mleditor.core import DirectRunner, OnnxScorer, Pipeline, PredictRequest, resolve_model

    class CountingRunner(DirectRunner):
        calls = 0

        def score_inputs(self, inputs):
            self.calls += 1
            return super().score_inputs(inputs)

    model = resolve_model(None)
    runner = CountingRunner(OnnxScorer.from_path(model.onnx_path).score)
    Pipeline(model, runner).run_many([PredictRequest("Flat beer?", "No bubbles.", version="v3")] * 4)
    assert runner.calls == 1          # four questions and their counterfactual rows, one model call
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

import numpy as np

from mleditor.core.requests import ModelInput
from mleditor.core.scorer import pad_ngram_ids

ScoreFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""`score(ngram_ids int64 [B, L], dense float32 [B, D]) -> float32 [B]`, e.g. `OnnxScorer.score`."""

BAND = 32  # rows are padded to a multiple of this many ids: little padding, few calls (measured best)
# Up to this many rows one padded call is fastest; past it, calls by band (real questions, same run:
# 32 rows 122k rows/s in one call vs 77k banded; 256 rows 81k vs 149k; 1,024 rows 44k vs 171k).
DIRECT_MAX_ROWS = 64
MAX_CELLS_PER_CALL = 4_000_000  # ids per model call (32 MB of int64): bounds memory for long questions


class Runner(ABC):
    """Step 4 for a list of model inputs: the scores of each input's rows, in order."""

    @abstractmethod
    def score_inputs(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        """One float array per input, as long as its rows."""

    async def ascore_inputs(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        """The asynchronous form, awaited by `Pipeline.arun`; by default the synchronous call."""
        return self.score_inputs(inputs)


def model_batch(inputs: Sequence[ModelInput], width: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The rows of `inputs` stacked: n-gram ids right-padded with 0 to at least `width`, dense float32."""
    ids = pad_ngram_ids([item.features.ngram_ids for item in inputs for _ in range(item.rows)], width)
    dense = inputs[0].dense if len(inputs) == 1 else np.concatenate([item.dense for item in inputs])
    return ids, dense.astype(np.float32, copy=False)


def split_scores(scores: np.ndarray, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
    """Cut a flat score array back into one array per input."""
    flat = np.asarray(scores).reshape(-1)
    if len(inputs) == 1:  # the common case (one request): no cutting
        return [flat]
    parts, start = [], 0
    for item in inputs:
        parts.append(flat[start:start + item.rows])
        start += item.rows
    return parts


class DirectRunner(Runner):
    """Every row of the inputs in one call of `score`; more than `max_rows` rows go by band (`BandedRunner`)."""

    def __init__(self, score: ScoreFn, max_rows: int = DIRECT_MAX_ROWS) -> None:
        self.score = score
        self.max_rows = max_rows
        self._banded: BandedRunner | None = None

    def score_inputs(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        if not inputs:
            return []
        if len(inputs) > 1 and sum(item.rows for item in inputs) > self.max_rows:
            if self._banded is None:
                self._banded = BandedRunner(self.score)
            return self._banded.score_inputs(inputs)
        return split_scores(self.score(*model_batch(inputs)), inputs)


class BandedRunner(Runner):
    """One call per band of padded width; at most `max_cells` ids per call; never a call of one row."""

    def __init__(self, score: ScoreFn, band: int = BAND, max_cells: int = MAX_CELLS_PER_CALL) -> None:
        if band < 1 or max_cells < 2 * band:
            raise ValueError(f"band must be >= 1 and max_cells >= 2 * band; got {band}, {max_cells}")
        self.score = score
        self.band = band
        self.max_cells = max_cells

    def width(self, n_ids: int) -> int:
        """The padded width of a question with `n_ids` n-gram ids: the next multiple of `band` (at least one band)."""
        return max(1, -(-n_ids // self.band)) * self.band

    def score_inputs(self, inputs: Sequence[ModelInput]) -> list[np.ndarray]:
        scores = [np.zeros(item.rows, dtype=np.float32) for item in inputs]
        bands: dict[int, list[int]] = {}
        for index, item in enumerate(inputs):
            bands.setdefault(self.width(item.features.ngram_ids.size), []).append(index)
        for width, members in sorted(bands.items()):
            for part in self._calls(members, inputs, width):
                ids, dense = model_batch([inputs[i] for i in part], width)
                for i, row_scores in zip(part, split_scores(self._score_at_least_two(ids, dense),
                                                            [inputs[i] for i in part])):
                    scores[i] = row_scores
        return scores

    def _calls(self, members: list[int], inputs: Sequence[ModelInput], width: int) -> list[list[int]]:
        """Group a band's inputs into calls of at most max_cells ids (an input's rows stay in one call)."""
        rows_per_call = max(2, self.max_cells // width)
        calls: list[list[int]] = [[]]
        rows = 0
        for i in members:
            if calls[-1] and rows + inputs[i].rows > rows_per_call:
                calls.append([])
                rows = 0
            calls[-1].append(i)
            rows += inputs[i].rows
        return calls

    def _score_at_least_two(self, ids: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """onnxruntime takes another kernel path for a batch of one (last-bit differences): never send one."""
        if len(ids) != 1:
            return self.score(ids, dense)
        return self.score(np.concatenate([ids, ids]), np.concatenate([dense, dense]))[:1]
