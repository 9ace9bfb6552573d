"""The model card: what the model is for, what it was trained on (and its license), how well it does."""

from __future__ import annotations

from mleditor.core.ood import UNUSUAL_INPUT_LABEL
from mleditor.core.registry import CARD_FILE, ModelDirectory


def _ranges_line(model: ModelDirectory) -> str:
    """The card's line on the training ranges the answer's out-of-distribution check uses."""
    ranges = model.dense_ranges
    if ranges is None:
        return "this model keeps no training ranges of its features, so unusual inputs are not detected"
    return (f"meta.json `dense_ranges` keeps each dense feature's minimum, 0.1 % and 99.9 % quantiles\n"
            f"  and maximum over the {ranges.questions:,} training questions; a question far beyond them\n"
            f"  (`mleditor/core/ood.py`) is labelled \"{UNUSUAL_INPUT_LABEL}\" with the features named, not scored\n"
            f"  as a verdict")


def model_card(model: ModelDirectory) -> str:
    meta = model.meta
    data = meta.get("data", {})
    sites = data.get("questions_per_site", {})
    site_lines = "\n".join(f"| {site} | {count:,} |" for site, count in sorted(sites.items()))
    metrics = meta.get("metrics", {}).get("table_markdown", "_not evaluated yet: run `mleditor evaluate`_")
    crossval = meta.get("metrics", {}).get("crossval", {}).get("table_markdown", "")
    if crossval:
        metrics += ("\nCross-validated (every question outside the held-out site scored by a model that never saw\n"
                    "its author; the same folds for every model):\n\n" + crossval)
    training = meta.get("training", {})
    split = training.get("split", {})
    network = training.get("network", {})
    mleditor_version = meta.get("mleditor_version", "?")
    return f"""# Model card: {meta['model_id']}

Created {meta['created']} by mleditor {mleditor_version}; featurizer spec {meta['featurizer_spec']} (FEATURES.md).

## Intended use
Scores how likely a Stack Exchange-style question (title + body) is to be well received, and
recommends edits (ML Editor v1 rules, v2 score, v3 score + model-based recommendations). It is a
writing aid: it must not be used to rank or censor people, and its score is a probability
estimated on a few thousand questions from a handful of sites, not a verdict.

## Data and license
Trained on public Stack Exchange data dumps (`Posts.xml`): user contributions licensed under
CC BY-SA (3.0 or 4.0, as each post's ContentLicense says), attributed to Stack Exchange, Inc. and
the posts' authors (https://stackexchange.com). The model weights are a derived work: share them
under the same terms, with this attribution.

| site | questions |
|---|---|
{site_lines}

Total: {data.get('total', sum(sites.values())):,} questions. Source files and their SHA-256
are listed in meta.json (`data.sources`).

## Label and splits
- Label: {meta['label']['definition']} (mode `{meta['label']['mode']}`: groups are site × creation
  year, falling back to the site when a year has fewer than {split.get('min_group', '?')} questions),
  so older questions with more accumulated votes are compared with their contemporaries.
  Positive rate: {meta.get('positive_rate', '?')}.
- Splits: by author (no author in two splits), seed {split.get('seed')}; the site
  `{split.get('holdout_site')}` is held out entirely. Sizes: {meta.get('split_sizes')}.

## Model
Hashed word unigrams + bigrams (65,536 buckets, MurmurHash3) as a mean embedding and a wide linear
term, plus {len(meta['dense_features'])} handcrafted features, through a small MLP
(embedding {network.get('embed_dim')}, hidden {network.get('hidden')}); trained with AdamW,
best epoch {training.get('best_epoch')} by validation ROC AUC; Platt-calibrated on the validation split.
Inference: ONNX Runtime (`model.onnx`), no PyTorch.

## Metrics
{metrics}

ECE uses 15 equal-width bins. Baselines reproduce the book's approach (TF-IDF + random forest,
handcrafted features + random forest) plus TF-IDF + logistic regression, fitted on the same
training split.

## Limits
- Few thousand questions, nine sites (five of them meta sites): scores transfer imperfectly to
  other sites (see the held-out-site row) and to very different writing.
- English-centric rules and phrasing; French is present in the data, other languages are scored
  from n-grams the model has rarely seen.
- v3 recommendations move one feature at a time to the median of well-received questions; they
  estimate the model's response, not a causal effect of editing.
- Unusual inputs: {_ranges_line(model)}.
"""


def write_model_card(model: ModelDirectory) -> None:
    (model.path / CARD_FILE).write_text(model_card(model), encoding="utf-8")
