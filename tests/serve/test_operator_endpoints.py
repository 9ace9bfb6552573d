"""Operator endpoints (/metrics, /docs, /openapi.json): open with anonymous access, else for keys with the ops scope."""

from __future__ import annotations

import pytest

from mleditor.errors import InvalidInputError
from mleditor.serve.settings import ServeSettings
from mleditor.stores.keys import create_api_key, parse_scopes

pytestmark = pytest.mark.anyio
OPERATOR_PATHS = ("/metrics", "/openapi.json", "/docs")


async def test_with_anonymous_access_on_the_operator_endpoints_are_open_as_before(make_client):
    async with make_client() as client:
        statuses = [(await client.get(path)).status_code for path in OPERATOR_PATHS]
    assert statuses == [200, 200, 200]


async def test_with_anonymous_access_off_they_need_a_key_with_the_ops_scope(make_client):
    client = make_client(anonymous_enabled=False)
    store = client._transport.app.state.service.store
    ops = create_api_key(store, "prometheus", "ops")
    model_only = create_api_key(store, "app", "v1,v2,v3")
    async with client:
        anonymous = [await client.get(path) for path in OPERATOR_PATHS]
        wrong_scope = [await client.get(path, headers={"X-API-Key": model_only}) for path in OPERATOR_PATHS]
        allowed = [await client.get(path, headers={"Authorization": f"Bearer {ops}"}) for path in OPERATOR_PATHS]
        probes = [(await client.get(path)).status_code for path in ("/healthz", "/readyz")]
        predict_with_ops = await client.post("/predict/v1", json={"title": "How?", "body": "x"},
                                             headers={"X-API-Key": ops})
    assert [r.status_code for r in anonymous] == [401, 401, 401]
    assert "need an API key with the ops scope" in anonymous[0].json()["error"]
    assert [r.status_code for r in wrong_scope] == [403, 403, 403]
    assert "--scopes ops" in wrong_scope[0].json()["error"]
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert "mleditor_requests_total" in allowed[0].text and allowed[1].json()["info"]["title"] == "ML Editor"
    assert probes == [200, 200]  # liveness and readiness stay open for probes
    assert predict_with_ops.status_code == 403  # ops is not a model version


@pytest.mark.parametrize("access, anonymous, expected", [
    ("key", True, 401),  # a public demo that keeps its metrics to itself
    ("open", False, 200),  # closed API, metrics scraped from a private network
])
async def test_operator_access_overrides_the_default(make_client, access, anonymous, expected):
    async with make_client(operator_access=access, anonymous_enabled=anonymous) as client:
        statuses = {(await client.get(path)).status_code for path in OPERATOR_PATHS}
    assert statuses == {expected}


async def test_the_openapi_document_says_when_metrics_need_a_key(make_client):
    client = make_client(operator_access="key")
    store = client._transport.app.state.service.store
    async with client:
        spec = (await client.get("/openapi.json", headers={"X-API-Key": create_api_key(store, "ops", "ops")})).json()
    metrics = spec["paths"]["/metrics"]["get"]
    assert {"401", "403"} <= set(metrics["responses"]) and "security" in metrics


def test_the_ops_scope_is_a_key_scope_but_never_an_anonymous_one():
    assert parse_scopes("v1,ops") == ("v1", "ops")
    with pytest.raises(InvalidInputError, match="or ops for the operator endpoints"):
        parse_scopes("v1,admin")
    with pytest.raises(InvalidInputError, match="anonymous_scopes"):
        ServeSettings(anonymous_scopes=("v1", "ops"))
    with pytest.raises(InvalidInputError, match="operator_access='closed' is not valid; expected one of auto"):
        ServeSettings(operator_access="closed")
