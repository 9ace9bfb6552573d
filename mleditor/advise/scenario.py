"""What the advisor is asked: the traffic, the limits and the hard constraints of one deployment.

A `Scenario` is a frozen dataclass checked when it is built (`mleditor.config.check_settings`,
the shape every setting speaks: `scenario qps=0.0 is not valid; expected more than 0`). It comes
from defaults, then a TOML file of top-level keys (a name of a shipped scenario, `demo`, or a path;
an unknown key is refused with the list of valid ones), then the command line's flags, applied with
`with_overrides`. Prices and the traffic shape are assumptions and say so (`price_source`).

    scenario = load_scenario("plane").with_overrides(network="3g")
    scenario.hard_constraints()   # {"offline": True, ...}: what excludes a door
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from mleditor.advise.network import NetworkProfile, parse_network
from mleditor.config import Check, between, check_settings, more_than
from mleditor.errors import InvalidInputError

SECTION = "scenario"
PRICE_SOURCE = ("assumption: $0.04 per vCPU-hour (on-demand general-purpose cloud VMs list at about $0.02-0.05 "
                "per vCPU-hour, e.g. AWS m7i, GCP e2, 2025) and $0.09 per GB out (AWS's first internet-egress "
                "tier); pass --price-vcpu-hour and --price-egress-gb for yours")
MIN_BUDGET_S = 10.0  # below this not even the streaming server's start fits (see measure/__init__.py)


@dataclass(frozen=True)
class Scenario:
    """One deployment to advise on.

    Parameters:
        qps: peak predictions per second (servers are sized for it).
        max_latency_ms: the most a user may wait for a score, compute and network, at p99.
        offline: the writer has no network when scoring (a plane).
        text_must_stay_on_device: the question's text must never leave the user's machine.
        per_user_models: each author gets a model of their own (their writing style differs).
        needs_server_data: the scores are needed on the server (stored, ranked, joined with server data).
        known_in_advance: the share of questions known before they are asked (0 to 1).
        repeat_rate: the share of the other questions asked before (answered from a store or cache).
        read_later: the answers are read hours after they could be computed (a morning report).
        network: lan, 4g, 3g or RTT_MS/MBPS (assumed figures, `mleditor.advise.network`).
        price_vcpu_hour, price_egress_gb: USD; assumptions, `price_source` says whose.
        mean_to_peak: average traffic over the peak (a daily cycle), for the monthly figures.
        predictions_per_download: scores per download of the page or the device bundle.
        budget_s: seconds for all the measurements together.

    Example:
        >>> Scenario(qps=50, network="lan").profile.rtt_ms
        1.0
    """

    name: str = "custom"
    description: str = ""
    qps: float = 5.0
    max_latency_ms: float = 500.0
    offline: bool = False
    text_must_stay_on_device: bool = False
    per_user_models: bool = False
    needs_server_data: bool = False
    known_in_advance: float = 0.0
    repeat_rate: float = 0.0
    read_later: bool = False
    network: str = "4g"
    price_vcpu_hour: float = 0.04
    price_egress_gb: float = 0.09
    price_source: str = PRICE_SOURCE
    mean_to_peak: float = 0.25
    predictions_per_download: float = 100.0
    budget_s: float = 60.0
    source: str = "defaults"

    checks: ClassVar[Mapping[str, Check]] = {
        "qps": more_than(0), "max_latency_ms": more_than(0), "known_in_advance": between(0, 1),
        "repeat_rate": between(0, 1), "price_vcpu_hour": between(0, 1000, "0 to 1000 (USD)"),
        "price_egress_gb": between(0, 1000, "0 to 1000 (USD)"), "mean_to_peak": Check(lambda v: 0 < v <= 1,
                                                                                         "more than 0, at most 1"),
        "predictions_per_download": more_than(0), "budget_s": more_than(0),
    }

    def __post_init__(self) -> None:
        check_settings(self, SECTION, self.checks)
        self.profile  # noqa: B018 - refuse a bad network here, where the scenario is built

    @property
    def profile(self) -> NetworkProfile:
        return parse_network(self.network)

    @property
    def hit_ratio(self) -> float:
        """The share of requests a store can answer: the known questions, and repeats of the others."""
        return self.known_in_advance + (1 - self.known_in_advance) * self.repeat_rate

    @property
    def predictions_per_month(self) -> float:
        return self.qps * self.mean_to_peak * 30 * 86_400

    def with_overrides(self, **values: Any) -> Scenario:
        """This scenario with the flags given (None: not given) applied last; the source says so."""
        given = {key: value for key, value in values.items() if value is not None}
        if not given:
            return self
        return dataclasses.replace(self, **given, source=f"{self.source} + command line ({', '.join(given)})")

    def to_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**fields, "network": self.profile.to_dict()}


def valid_keys() -> list[str]:
    """The keys a scenario file may hold."""
    return [f.name for f in dataclasses.fields(Scenario) if f.name != "source"]


def shipped_scenarios() -> dict[str, Path]:
    """The scenario files shipped with the package, by name (the chapter's examples)."""
    folder = Path(str(resources.files("mleditor.advise") / "scenarios"))
    return {path.stem: path for path in sorted(folder.glob("*.toml"))}


def load_scenario(name_or_path: str | Path | None) -> Scenario:
    """A shipped scenario by name, or a TOML file by path; None: the `demo` scenario."""
    shipped = shipped_scenarios()
    text = "demo" if name_or_path is None else str(name_or_path)
    path = shipped.get(text, Path(text))
    if not path.is_file():
        raise InvalidInputError(f"scenario {text!r} not found: give a TOML file or one of {', '.join(shipped)}")
    return scenario_from_toml(path, _read(path), label=_label(path, shipped))


def scenario_from_toml(path: Path, data: Mapping[str, Any], label: str) -> Scenario:
    """A scenario from a TOML file's top-level keys; an unknown key is refused with the valid ones."""
    unknown = [key for key in data if key not in valid_keys()]
    if unknown:
        raise InvalidInputError(f"{path}: unknown scenario key {unknown[0]!r}; valid keys: {', '.join(valid_keys())}")
    values: dict[str, Any] = {"name": path.stem}
    for key, value in data.items():  # TOML's 3 is 3.0 for a number field
        whole = isinstance(value, int) and not isinstance(value, bool)
        values[key] = float(value) if whole and _is_float(key) else value
    try:
        return Scenario(**values, source=label)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{exc} (from {path})") from None


def _is_float(key: str) -> bool:
    return next(f.type for f in dataclasses.fields(Scenario) if f.name == key) in (float, "float")


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"scenario file {path} cannot be read: {exc}") from None


def _label(path: Path, shipped: Mapping[str, Path]) -> str:
    return f"mleditor/advise/scenarios/{path.name}" if path in shipped.values() else str(path)
