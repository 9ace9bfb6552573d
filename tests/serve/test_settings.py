"""Server settings: defaults, then the TOML file, then MLEDITOR_SERVE_* variables; bad input names the key."""

from __future__ import annotations

import pytest

from mleditor.errors import InvalidInputError
from mleditor.serve.settings import ServeSettings, load_settings, settings_to_env


def test_defaults_match_the_documented_ones():
    s = load_settings(environ={})
    assert (s.host, s.port, s.workers, s.model, s.store_path) == ("127.0.0.1", 8000, 1, None, "mleditor.db")
    assert s.anonymous_enabled and s.anonymous_scopes == ("v1", "v2", "v3")
    assert (s.max_batch_size, s.max_wait_ms, s.cache_size, s.rate_limit_per_minute) == (64, 0.5, 10_000, 600)
    assert (s.max_request_bytes, s.log_level, s.graceful_timeout_s) == (1_048_576, "info", 10.0)
    assert (s.body_timeout_s, s.body_deadline_s, s.header_deadline_s) == (30.0, 60.0, 10.0)
    assert (s.max_connections_per_client, s.operator_access, s.operator_endpoints_open) == (100, "auto", True)


def test_environment_overrides_the_file_which_overrides_the_defaults(tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\nport = 9000\nworkers = 3\nanonymous_scopes = ["v1"]\nmax_wait_ms = 5\n')
    s = load_settings(config, environ={"MLEDITOR_SERVE_PORT": "9100", "MLEDITOR_SERVE_ANONYMOUS_ENABLED": "false"})
    assert (s.port, s.workers, s.anonymous_enabled, s.anonymous_scopes, s.max_wait_ms) == (9100, 3, False, ("v1",), 5.0)


def test_the_config_file_can_come_from_the_environment(tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\ncache_size = 7\n')
    assert load_settings(environ={"MLEDITOR_SERVE_CONFIG": str(config)}).cache_size == 7


@pytest.mark.parametrize("environ, named", [
    ({"MLEDITOR_SERVE_PROT": "1"}, "MLEDITOR_SERVE_PROT"),
    ({"MLEDITOR_SERVE_PORT": "eighty"}, "MLEDITOR_SERVE_PORT"),
    ({"MLEDITOR_SERVE_ANONYMOUS_ENABLED": "maybe"}, "MLEDITOR_SERVE_ANONYMOUS_ENABLED"),
    ({"MLEDITOR_SERVE_ANONYMOUS_SCOPES": "v1,v9"}, "anonymous_scopes"),
    ({"MLEDITOR_SERVE_WORKERS": "0"}, "workers"),
    ({"MLEDITOR_SERVE_LOG_LEVEL": "loud"}, "log_level"),
    ({"MLEDITOR_SERVE_HEADER_DEADLINE_S": "0"}, "header_deadline_s"),
    ({"MLEDITOR_SERVE_BODY_DEADLINE_S": "-1"}, "body_deadline_s"),
    ({"MLEDITOR_SERVE_MAX_CONNECTIONS_PER_CLIENT": "-1"}, "max_connections_per_client"),
    ({"MLEDITOR_SERVE_OPERATOR_ACCESS": "closed"}, "operator_access"),
])
def test_unknown_keys_and_bad_values_are_refused_naming_the_key(environ, named):
    with pytest.raises(InvalidInputError, match=named):
        load_settings(environ=environ)


def test_an_unknown_key_in_the_file_is_refused_naming_it(tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text('[serve]\nmax_batch = 8\n')
    with pytest.raises(InvalidInputError, match=r"serve.max_batch"):
        load_settings(config, environ={})
    with pytest.raises(InvalidInputError, match="not found"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_settings_survive_a_round_trip_through_the_environment():
    s = ServeSettings(port=9001, anonymous_enabled=False, anonymous_scopes=("v2",), model="se15-v1", max_wait_ms=0.5)
    assert load_settings(environ=settings_to_env(s)) == s
