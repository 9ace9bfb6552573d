"""Hooks: what a door adds around the six steps without writing its own chain of them.

`Pipeline` calls every hook it was given, in order, at four points:

* `after_authorize(request, caller)` — in step 1, once the caller is known and allowed this
  version, before the text is checked (HTML conversion is the expensive part): charge a rate
  limit; raise an `MLEditorError` to refuse the request. `Pipeline.admit` runs this much alone
  for answers that need no text (a stored prediction by question id).
* `after_validate(valid)` — after step 1 (the text is checked too): count or inspect requests;
  raise an `MLEditorError` to refuse the request.
* `known_answer(context)` / `aknown_answer(context)` — after step 2: a cache or a prediction
  store returns a `KnownAnswer` to skip steps 3-5 (the first hook that answers wins), or None.
  `Pipeline.arun` awaits `aknown_answer`, which calls `known_answer` unless a hook needs to wait
  for a store (the hybrid door runs its lookup on a thread, with a timeout).
* `after_respond(context, result)` — after step 6, for every answer (computed or known): fill a
  cache, write a live prediction back to a store, observe timings.

Example — count how often each version is asked for::

    import collections

    from mleditor.core import OnnxScorer, Pipeline, PipelineHooks, PredictRequest, ValidRequest, resolve_model

    class CountVersions(PipelineHooks):
        def __init__(self) -> None:
            self.counts: collections.Counter[str] = collections.Counter()

        def after_validate(self, valid: ValidRequest) -> None:
            self.counts[valid.request.version] += 1

    model = resolve_model(None)
    counter = CountVersions()
    pipeline = Pipeline(model, OnnxScorer.from_path(model.onnx_path).score, hooks=[counter])
    pipeline.run(PredictRequest("Flat beer?", "It has no bubbles.", version="v2"))
    assert counter.counts["v2"] == 1
"""

from __future__ import annotations

from mleditor.core.access import Caller
from mleditor.core.requests import Context, KnownAnswer, PipelineResult, PredictRequest, ValidRequest


class PipelineHooks:
    """The base class of hooks; every method does nothing by default, so a hook overrides only what it needs."""

    def after_authorize(self, request: PredictRequest, caller: Caller) -> None:
        """Called in step 1 once the caller is admitted, before the text is checked; raise to refuse."""

    def after_validate(self, valid: ValidRequest) -> None:
        """Called after step 1; raise an MLEditorError to refuse the request."""

    def known_answer(self, context: Context) -> KnownAnswer | None:
        """Called before step 3: an answer that makes steps 3-5 unnecessary, or None."""
        return None

    async def aknown_answer(self, context: Context) -> KnownAnswer | None:
        """The asynchronous form of `known_answer`, awaited by `Pipeline.arun`."""
        return self.known_answer(context)

    def after_respond(self, context: Context, result: PipelineResult) -> None:
        """Called with every answer after step 6."""
