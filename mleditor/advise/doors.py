"""What each door is, whatever is measured: where the text goes, what must run, and which constraint excludes it.

These are facts about the code (the README's door sections), not figures: a door's `excludes`
maps each hard constraint of a `Scenario` to the reason it cannot meet it, and `complexity` is
what must be run and operated, scored 1 (a file) to 5 (a fleet and a training protocol). The
advisor prefers the lowest score among the doors that meet the constraints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DOORS = ("streaming", "batch", "hybrid", "device", "browser", "federated")
CONSTRAINTS = ("offline", "text_must_stay_on_device", "per_user_models", "needs_server_data", "known_in_advance",
               "max_latency_ms")


@dataclass(frozen=True)
class Door:
    """One door's fixed traits (see the module docstring)."""

    name: str
    title: str
    choose_when: str
    text_goes: str  # "server" | "server, stored" | "device only" | "never leaves (weights do)"
    stored: bool
    privacy: str
    works_offline: bool
    network_needs: str
    complexity: int
    runs: tuple[str, ...]
    operates: tuple[str, ...]
    excludes: Mapping[str, str]


_SERVER_TEXT = "it sends the question's text to the server"
_ONE_MODEL = "it serves one model for every author; a model per author would be trained and loaded per user"
_ON_CLIENT = "it scores on the user's machine, and the scores are needed on the server"

CATALOG: dict[str, Door] = {door.name: door for door in (
    Door("streaming", "Streaming API (mleditor serve)",
         "questions arrive one at a time and must be answered now (an editor, a form)",
         "server", False, "the text is sent to the server per request and not stored (an in-memory LRU cache)",
         False, "a request per question", 2, ("mleditor serve (N worker processes)",),
         ("a model directory", "a TLS front / load balancer"),
         {"offline": "it answers over the network, a request per question",
          "text_must_stay_on_device": _SERVER_TEXT, "per_user_models": _ONE_MODEL}),
    Door("batch", "Batch (mleditor batch run)",
         "the questions are known in advance (all open questions, nightly) and are read later",
         "server, stored", True, "the questions are read on the server and their scores stored with their ids",
         False, "none per question: the results are read from the store", 2,
         ("mleditor batch run (a scheduled job)",), ("a prediction store", "a scheduler (systemd timer or cron)"),
         {"offline": "its results are read from the server's store",
          "text_must_stay_on_device": "it reads every question on the server", "per_user_models": _ONE_MODEL,
          "known_in_advance": ("it answers only questions scored ahead of time, and {unknown} of the questions asked "
                               "are new")}),
    Door("hybrid", "Hybrid ([hybrid] store over mleditor serve)",
         "most questions asked were precomputed, but new ones must still be answered",
         "server, stored", True, "the text is sent to the server; new questions' scores are stored (content hash, "
         "title)", False, "a request per question", 4,
         ("mleditor serve with [hybrid] store", "mleditor batch run (a scheduled job)"),
         ("a prediction store", "a scheduler", "freshness (ttl) of the stored answers"),
         {"offline": "it answers over the network, a request per question",
          "text_must_stay_on_device": _SERVER_TEXT, "per_user_models": _ONE_MODEL}),
    Door("device", "On device (mleditor device predict --bundle)",
         "the app must work offline, the text must not leave the machine, or there is no server to pay for",
         "device only", False, "the text never leaves the device", True, "none (the bundle is installed with the app)",
         3, ("the app with a device bundle (featurizer + onnxruntime)",),
         ("model distribution: a new bundle with each app update",),
         {"needs_server_data": _ON_CLIENT,
          "per_user_models": "it ships one bundle to everyone; a model per author is trained on each device "
                             "(the federated door)"}),
    Door("browser", "In the browser (/editor/, mleditor browser export)",
         "the text must never leave the user's machine, there is no install, and a 3 MB first visit is acceptable",
         "device only", False, "the text stays in the page; the server only hands out static files", True,
         "one visit to load the page and the model, then offline (service worker)", 3,
         ("a static site (any web server or CDN)",), ("the wasm runtime and the model as static files",),
         {"needs_server_data": _ON_CLIENT,
          "per_user_models": "it loads one model for everyone; a model per author is trained on each device "
                             "(the federated door)"}),
    Door("federated", "Federated learning (mleditor federated run, Flower)",
         "each author needs a model of their own and their text must stay on their machine",
         "never leaves (weights do)", False, "the text never leaves the device; model weights travel each round",
         True, "a round trip of the model's weights per training round; scoring is offline", 5,
         ("a Flower SuperLink (server)", "a client app on every device", "the device bundle for scoring"),
         ("training rounds and their schedule", "secure aggregation", "model distribution",
          "the personal parts per author"),
         {"needs_server_data": _ON_CLIENT}),
)}
