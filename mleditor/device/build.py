"""Building a bundle: run a variant's builder, measure it against its source, pack it.

    bundle = build_bundle(resolve_model(None), find_variant("int8"), BuildOptions(data_dir=...), Path("b/int8"))

With the data, the quality (`mleditor.device.quality`) and the tolerance (the largest |Δscore| over
every real question) are measured and recorded; without it, the tolerance is measured on the
questions given, and the manifest says so.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mleditor.core.features import featurize_many
from mleditor.core.records import Question
from mleditor.core.registry import ModelDirectory
from mleditor.core.runners import ScoreFn
from mleditor.core.scorer import OnnxScorer, pad_ngram_ids
from mleditor.device.bundle import DeviceBundle, write_bundle
from mleditor.device.runtime import scorer_for_file
from mleditor.device.variants import BuildOptions, VariantSpec

_NO_DATA_NOTE = "Built without the data: quality not measured; the tolerance is measured on {n} example questions."


def build_bundle(source: ModelDirectory, spec: VariantSpec, options: BuildOptions, output: Path, *,
                 measure: bool = True, examples: Sequence[Question] = (), author: str | None = None) -> DeviceBundle:
    """Build `spec` from `source` into the bundle folder `output`; measured on options.data_dir when `measure`.

    With `author`, the bundle carries that author's personal part (`write_bundle`); the quality and
    tolerance are the variant's global ones.
    """
    with tempfile.TemporaryDirectory(prefix=f"mleditor-{spec.name}-") as work:
        built = spec.build(source, Path(work), options)
        scorer = scorer_for_file(built.model_file, built.runtime)
        if measure and options.data_dir is not None:
            from mleditor.device.quality import measure_quality

            quality = measure_quality(source, scorer.score, options.data_dir)
            return write_bundle(source, built, output, quality=quality.to_dict(),
                                max_abs_delta_score=quality.max_abs_delta_score, author=author)
        return write_bundle(source, built, output, quality=None, card_note=_NO_DATA_NOTE.format(n=len(examples)),
                            max_abs_delta_score=max_abs_delta(source, scorer.score, examples),
                            measured_on=f"{len(examples)} example questions (no data)", author=author)


def max_abs_delta(source: ModelDirectory, score: ScoreFn, questions: Sequence[Question]) -> float:
    """The largest |score - the source score| over `questions` (0 for none)."""
    if not questions:
        return 0.0
    features = featurize_many([q.title for q in questions], [q.body for q in questions])
    ids = pad_ngram_ids([f.ngram_ids for f in features])
    dense = np.stack([f.dense for f in features]).astype(np.float32)
    reference = OnnxScorer.from_path(source.onnx_path).score(ids, dense)
    return float(np.max(np.abs(np.asarray(score(ids, dense), dtype=np.float64) - reference)))
