"""Fixtures for the advisor's tests: a fake measurement set (the same dataclasses the measurements return)."""

from __future__ import annotations

import pytest

from mleditor.advise.measure.base import DoorMeasurement, Figure, MeasurementSet

FAKE = "fake: a test's figure"


def figures(**values: float) -> tuple[Figure, ...]:
    return tuple(Figure(name, value, "", FAKE) for name, value in values.items())


def fake_set(**overrides: DoorMeasurement) -> MeasurementSet:
    """Every door measured with plausible figures (as on a 2-core machine); `overrides` replace doors."""
    doors = {
        "streaming": DoorMeasurement("streaming", figures(
            p50_ms=0.6, p99_ms=5.0, best_rps_within_limit=1300, peak_rps=1400, server_cpu_ms_per_request=0.45,
            request_bytes=300, response_bytes=1150), samples_ms=(0.5, 0.6, 0.7)),
        "batch": DoorMeasurement("batch", figures(
            first_run_qps=2800, first_run_cpu_ms_per_question=0.16, rerun_qps=16000, rerun_cpu_ms_per_question=0.02,
            read_p50_ms=0.01, read_p99_ms=0.03)),
        "hybrid": DoorMeasurement("hybrid", figures(
            hit_p50_ms=0.12, hit_p99_ms=0.2, miss_p50_ms=0.55, miss_p99_ms=5.0, hit_cpu_ms_per_request=0.12,
            miss_cpu_ms_per_request=0.55, p50_ms=0.2, p99_ms=5.0)),
        "device": DoorMeasurement("device", figures(bytes=595_575, load_ms=1.5, p50_ms=0.07, p99_ms=0.24,
                                                    client_memory_mb=20.0),
                                  variants=({"variant": "int8", "bytes": 595_575, "p50_ms": 0.07},)),
        "browser": DoorMeasurement("browser", figures(site_bytes=2_900_000, first_visit_bytes=2_907_000,
                                                      first_score_cold_ms=900, p50_ms=0.3, p99_ms=5.4)),
        "federated": DoorMeasurement("federated", figures(parameters=590_429, bytes_per_client_per_round=4_723_432)),
    }
    doors.update(overrides)
    return MeasurementSet(doors, {"cpus": 2, "cpu_model": "test"}, {"model_id": "se15-v1"}, 1.0)


@pytest.fixture
def fake_measurements() -> MeasurementSet:
    return fake_set()
