"""Property-based tests from the app's own OpenAPI document: whatever a client sends, never a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from mleditor.serve.app import create_app
from mleditor.serve.settings import ServeSettings

# An in-memory store and no rate limit, so generated requests reach every step of the pipeline.
# (schemathesis.pytest.from_fixture would be tidier but does not work with pytest 9.)
APP = create_app(ServeSettings(store_path=":memory:", max_wait_ms=0.5, rate_limit_per_minute=0))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_generated_request_gets_a_server_error_and_answers_match_the_schema(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
