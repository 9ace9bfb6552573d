"""From measured figures to what a deployment costs: the latency a user sees, servers, money, privacy, operations.

Each derived number says how it was obtained: measured compute plus the scenario's network profile
(an assumption, with its source), servers sized for the peak with autoscaling headroom, and money
from server CPU time and egress bytes at the scenario's prices (assumptions too). A door not
measured gets only its fixed traits (privacy, complexity, network needs); its numbers stay None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mleditor.advise.doors import CATALOG, Door
from mleditor.advise.measure.base import DoorMeasurement, MeasurementSet
from mleditor.advise.network import request_ms, transfer_ms
from mleditor.advise.scenario import Scenario

HEADROOM = 0.7  # servers are sized to run at most 70 % busy at the peak: room for autoscaling to react
HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = 30 * 86_400
READ_REQUEST_BYTES = 300  # a GET of one stored answer (assumption: request line and usual headers)
DEFAULT_RESPONSE_BYTES = 1_500  # an answer with advice, when the streaming door was not measured (assumption)
FL_CLIENTS_PER_ROUND = 100  # assumption: one round a day, 100 authors each
FL_ROUNDS_PER_MONTH = 30
QPS_STEPS = (1, 10, 100, 1000)
HEADROOM_HOW = f"sized for the peak at {HEADROOM:.0%} busy (autoscaling headroom, an assumption)"


@dataclass(frozen=True)
class Derived:
    """One door's derived blocks, in the advice JSON's shapes (None: not measured)."""

    user_latency_ms: dict[str, Any] | None
    cost: dict[str, Any] | None
    cost_vs_qps: list[list[float]] | None
    hardware: dict[str, Any]
    network: dict[str, Any]
    privacy: dict[str, Any]
    complexity: dict[str, Any]


def derive(door: str, found: MeasurementSet, scenario: Scenario) -> Derived:
    """The derived blocks of `door` from its measurement (and, where one door stands in for another, theirs)."""
    traits = CATALOG[door]
    fixed = fixed_blocks(traits, scenario)
    m = found.door(door)
    if not m.measured:
        return Derived(None, None, None, {"servers_at_peak": None, "client_memory_mb": None,
                                          "how": "not measured"}, *fixed)
    latency, cost, curve, hardware = DERIVERS[door](m, found, scenario)
    return Derived(latency, cost, curve, hardware, *fixed)


def fixed_blocks(traits: Door, scenario: Scenario) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    network = {"works_offline": traits.works_offline, "needs": traits.network_needs}
    privacy = {"text_goes": traits.text_goes, "stored": traits.stored, "summary": traits.privacy}
    complexity = {"score": traits.complexity, "runs": list(traits.runs), "operates": list(traits.operates)}
    return network, privacy, complexity


def latency_block(p50: float | None, p99: float | None, how: str) -> dict[str, Any] | None:
    if p50 is None or p99 is None:
        return None
    return {"p50": round(p50, 3), "p99": round(p99, 3), "how": how}


def money(scenario: Scenario, cpu_s: float, egress_bytes: float) -> float:
    """USD for `cpu_s` of server CPU and `egress_bytes` sent, at the scenario's prices."""
    return cpu_s * scenario.price_vcpu_hour / 3600 + egress_bytes * scenario.price_egress_gb / 1e9


def cost_block(scenario: Scenario, cpu_s: float, egress: float, per_month: float, how: str) -> dict[str, Any]:
    return {"per_million_usd": round(money(scenario, cpu_s, egress) * 1e6, 4), "per_month_usd": round(per_month, 2),
            "server_cpu_s_per_prediction": cpu_s, "egress_bytes_per_prediction": round(egress),
            "how": how + f"; prices: {scenario.price_source}"}


def monthly(scenario: Scenario, qps: float | None = None) -> float:
    """Predictions a month at `qps` peak (default: the scenario's) and its mean-to-peak ratio."""
    return (scenario.qps if qps is None else qps) * scenario.mean_to_peak * SECONDS_PER_MONTH


def servers_for(qps: float, capacity_rps: float) -> int:
    return max(1, math.ceil(qps / (capacity_rps * HEADROOM)))


def always_on(scenario: Scenario, servers: int, egress: float, qps: float | None = None) -> float:
    """A month of `servers` one-vCPU servers, plus the egress of the month's answers."""
    return servers * HOURS_PER_MONTH * scenario.price_vcpu_hour + money(scenario, 0, egress * monthly(scenario, qps))


Blocks = tuple[dict[str, Any] | None, dict[str, Any], list[list[float]], dict[str, Any]]


def streaming(m: DoorMeasurement, found: MeasurementSet, scenario: Scenario) -> Blocks:
    profile, req, resp = scenario.profile, int(m.value("request_bytes") or 0), int(m.value("response_bytes") or 0)
    p50, p99 = (request_ms(profile, req, resp, m.value(k) or 0.0) for k in ("p50_ms", "p99_ms"))
    latency = latency_block(p50, p99, f"measured compute + one RTT and the transfer of {req:,} B up and {resp:,} B "
                                      f"down under '{profile.name}' ({profile.source})")
    cpu_s = (m.value("server_cpu_ms_per_request") or 0.0) / 1000
    capacity = m.value("best_rps_within_limit") or m.value("peak_rps") or 1.0
    servers = servers_for(scenario.qps, capacity)
    cost = cost_block(scenario, cpu_s, resp, always_on(scenario, servers, resp),
                      f"per million: server CPU × price + answers' bytes × egress price; per month: {servers} "
                      f"always-on 1-vCPU server(s) + egress, {monthly(scenario):,.0f} predictions")
    curve = [[q, round(always_on(scenario, servers_for(q, capacity), resp, q), 2)] for q in QPS_STEPS]
    hardware = {"servers_at_peak": servers, "client_memory_mb": None,
                "how": f"{scenario.qps:g} requests/s at the peak over {capacity:,.0f} per 1-worker server; "
                       + HEADROOM_HOW}
    return latency, cost, curve, hardware


def batch(m: DoorMeasurement, found: MeasurementSet, scenario: Scenario) -> Blocks:
    resp = int(found.door("streaming").value("response_bytes") or DEFAULT_RESPONSE_BYTES)
    profile = scenario.profile
    p50, p99 = (request_ms(profile, READ_REQUEST_BYTES, resp, m.value(k) or 0.0)
                for k in ("read_p50_ms", "read_p99_ms"))
    latency = latency_block(p50, p99, f"a stored answer read: measured store read + one RTT and {resp:,} B under "
                                      f"'{profile.name}' ({profile.source})")
    cpu_s = (m.value("first_run_cpu_ms_per_question") or 0.0) / 1000
    per_month = money(scenario, cpu_s * monthly(scenario), resp * monthly(scenario))
    cost = cost_block(scenario, cpu_s, resp, per_month,
                      "CPU of a first run per question × price (re-runs of unchanged questions cost "
                      f"{(m.value('rerun_cpu_ms_per_question') or 0):.3f} ms) + answers' bytes × egress price; "
                      "the job runs only when scheduled")
    curve = [[q, round(money(scenario, cpu_s * monthly(scenario, q), resp * monthly(scenario, q)), 2)]
             for q in QPS_STEPS]
    daily = monthly(scenario) / 30
    job_min = daily / (m.value("first_run_qps") or 1.0) / 60
    hardware = {"servers_at_peak": 1, "client_memory_mb": None,
                "how": f"one process, about {job_min:,.1f} min a day for {daily:,.0f} questions at the measured rate"}
    return latency, cost, curve, hardware


def hybrid(m: DoorMeasurement, found: MeasurementSet, scenario: Scenario) -> Blocks:
    profile, ratio = scenario.profile, scenario.hit_ratio
    stream = found.door("streaming")
    req = int(stream.value("request_bytes") or READ_REQUEST_BYTES)
    resp = int(stream.value("response_bytes") or DEFAULT_RESPONSE_BYTES)
    p50, p99 = (request_ms(profile, req, resp, m.value(k) or 0.0) for k in ("p50_ms", "p99_ms"))
    latency = latency_block(p50, p99, f"measured hits and misses at a {ratio:.0%} hit ratio + one RTT and the "
                                      f"transfers under '{profile.name}' ({profile.source})")
    serve_cpu = (ratio * (m.value("hit_cpu_ms_per_request") or 0.0)
                 + (1 - ratio) * (m.value("miss_cpu_ms_per_request") or 0.0)) / 1000
    batch_m = found.door("batch")
    ahead = (batch_m.value("first_run_cpu_ms_per_question") or m.value("miss_cpu_ms_per_request") or 0.0) / 1000
    cpu_s = serve_cpu + scenario.known_in_advance * ahead
    servers = servers_for(scenario.qps, 1 / max(serve_cpu, 1e-6))
    per_month = always_on(scenario, servers, resp) + money(scenario, scenario.known_in_advance * ahead
                                                           * monthly(scenario), 0)
    cost = cost_block(scenario, cpu_s, resp, per_month,
                      f"serving CPU at a {ratio:.0%} hit ratio + the batch run's CPU for the "
                      f"{scenario.known_in_advance:.0%} known ahead; per month: {servers} always-on 1-vCPU "
                      "server(s) + the batch CPU + egress")
    curve = [[q, round(always_on(scenario, servers_for(q, 1 / max(serve_cpu, 1e-6)), resp, q)
                       + money(scenario, scenario.known_in_advance * ahead * monthly(scenario, q), 0), 2)]
             for q in QPS_STEPS]
    hardware = {"servers_at_peak": servers, "client_memory_mb": None,
                "how": f"{scenario.qps:g} requests/s × {serve_cpu * 1000:.3f} ms CPU each; {HEADROOM_HOW}; "
                       "plus a prediction store and a batch job"}
    return latency, cost, curve, hardware


def on_client(scenario: Scenario, download_bytes: float, what: str) -> tuple[dict[str, Any], list[list[float]]]:
    """Cost of a door that scores on the user's machine: only the downloads of the model, amortized."""
    egress = download_bytes / scenario.predictions_per_download
    cost = cost_block(scenario, 0.0, egress, money(scenario, 0, egress * monthly(scenario)),
                      f"no server CPU per score; {what} ({download_bytes:,.0f} B) downloaded once per "
                      f"{scenario.predictions_per_download:g} scores (an assumption: predictions_per_download)")
    curve = [[q, round(money(scenario, 0, egress * monthly(scenario, q)), 2)] for q in QPS_STEPS]
    return cost, curve


def device(m: DoorMeasurement, found: MeasurementSet, scenario: Scenario) -> Blocks:
    latency = latency_block(m.value("p50_ms"), m.value("p99_ms"), "measured on one core: no network")
    cost, curve = on_client(scenario, m.value("bytes") or 0.0, "the bundle")
    hardware = {"servers_at_peak": 0, "client_memory_mb": m.value("client_memory_mb"),
                "how": f"none: each device scores; the client adds {m.value('client_memory_mb') or 0:.0f} MB and "
                       f"{m.value('p50_ms') or 0:.2f} ms of one core a score (measured)"}
    return latency, cost, curve, hardware


def browser(m: DoorMeasurement, found: MeasurementSet, scenario: Scenario) -> Blocks:
    profile = scenario.profile
    download = m.value("first_visit_bytes") or m.value("site_bytes") or 0.0
    latency = latency_block(m.value("p50_ms"), m.value("p99_ms"), "measured in the page (headless Chromium): no "
                                                                  "network per score")
    if latency is not None:
        first = transfer_ms(download, profile.down_mbps) + 3 * profile.rtt_ms + (m.value("first_score_cold_ms") or 0)
        latency["first_visit_ms"] = round(first, 1)
        latency["how"] += (f"; the first visit: {download / 1e6:.2f} MB under '{profile.name}' + 3 RTT + the measured "
                           "time to the first score on loopback")
    cost, curve = on_client(scenario, download, "the page, the wasm runtime and the model")
    hardware = {"servers_at_peak": 0, "client_memory_mb": m.value("client_memory_mb"),
                "how": "a static file host; each browser scores (JS heap measured when Chromium ran)"}
    return latency, cost, curve, hardware


def federated(m: DoorMeasurement, found: MeasurementSet, scenario: Scenario) -> Blocks:
    on_device = found.door("device")
    latency = latency_block(on_device.value("p50_ms"), on_device.value("p99_ms"),
                            "estimate: the device door's measured latency (scoring happens on the device)")
    per_round = m.value("bytes_per_client_per_round") or 0.0
    training = per_round / 2 * FL_CLIENTS_PER_ROUND * FL_ROUNDS_PER_MONTH  # the server sends the model down
    cost = cost_block(scenario, 0.0, 0.0, money(scenario, 0, training),
                      f"no server CPU per score; training egress: {per_round / 2:,.0f} B down per client per round, "
                      f"{FL_CLIENTS_PER_ROUND} clients a round, {FL_ROUNDS_PER_MONTH} rounds a month (assumptions)")
    curve = [[q, cost["per_month_usd"]] for q in QPS_STEPS]
    hardware = {"servers_at_peak": 1, "client_memory_mb": None,
                "how": f"one Flower SuperLink; each client trains and moves {per_round / 1e6:.2f} MB a round (measured "
                       "from the model's parameters)"}
    return latency, cost, curve, hardware


DERIVERS: dict[str, Callable[[DoorMeasurement, MeasurementSet, Scenario], Blocks]] = {
    "streaming": streaming, "batch": batch, "hybrid": hybrid, "device": device, "browser": browser,
    "federated": federated,
}
