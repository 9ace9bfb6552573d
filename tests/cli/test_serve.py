"""`mleditor serve`, `keys` and `profiles` as a user runs them, including a graceful shutdown on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import httpx

from tests.helpers import run_mleditor, start_server, trickle_until_closed


def test_keys_are_created_once_listed_without_secrets_and_revoked(tmp_path):
    store = str(tmp_path / "keys.db")
    created = run_mleditor("keys", "create", "--name", "demo", "--scopes", "v1,v2", "--store", store)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("mle_") and "shown only once" in created.stderr
    key_id = key.split("_")[1]
    assert run_mleditor("keys", "revoke", key_id, "--store", store).returncode == 0
    listed = run_mleditor("keys", "list", "--json", "--store", store)
    [entry] = json.loads(listed.stdout)
    assert entry["key_id"] == key_id and entry["scopes"] == ["v1", "v2"] and entry["revoked"]
    assert key.split("_", 2)[2] not in listed.stdout
    bad = run_mleditor("keys", "create", "--name", "x", "--scopes", "v4", "--store", store)
    assert bad.returncode == 2 and bad.stderr.startswith("error: scopes v4 not valid")
    assert "ops" in run_mleditor("keys", "create", "--help").stdout
    profile = run_mleditor("profiles", "set", "42", "--questions", "3", "--median-score", "2.5",
                       "--preferred-version", "v2", "--store", store)
    assert profile.returncode == 0 and "3 questions" in profile.stderr


def test_an_unknown_engine_is_a_one_line_error():
    result = run_mleditor("serve", "--engine", "kubernetes")
    assert result.returncode == 2 and result.stderr.startswith("error: unknown engine") and "Traceback" not in result.stderr


def test_serve_starts_refuses_huge_bodies_early_and_finishes_in_flight_requests_on_sigterm(tmp_path):
    # A request waits 1.5 s in the batcher: long enough to be in flight when SIGTERM comes.
    server, base = start_server(tmp_path, "--workers", "1", MLEDITOR_SERVE_MAX_WAIT_MS="1500")
    answers: list[httpx.Response] = []
    with server:
        try:
            assert _status_for_announced_10_mb_body(base) == 413
            in_flight = threading.Thread(target=lambda: answers.append(httpx.post(
                base + "/predict/v2", json={"title": "How?", "body": "Like this."}, timeout=30,
                headers={"X-Request-ID": "in-flight-1"})))
            in_flight.start()
            time.sleep(0.5)
            server.send_signal(signal.SIGTERM)
            in_flight.join(30)
            assert server.wait(30) == 0
        finally:
            if server.poll() is None:
                server.kill()
        logs = server.stderr.read()
    assert answers and answers[0].status_code == 200 and answers[0].json()["request_id"] == "in-flight-1"
    access = [json.loads(line) for line in logs.splitlines() if '"mleditor.access"' in line]
    assert any(entry["request_id"] == "in-flight-1" and entry["status"] == 200 for entry in access)


def test_serve_with_several_workers_passes_its_settings_to_each_and_stops_cleanly(tmp_path):
    config = tmp_path / "serve.toml"
    config.write_text("[serve]\nanonymous_enabled = false\n")
    server, base = start_server(tmp_path, "--workers", "2", "--config", str(config))
    with server:
        try:
            statuses = {httpx.post(base + "/predict/v1", json={"title": "How?", "body": "x"}).status_code for _ in range(4)}
            server.send_signal(signal.SIGTERM)
            assert server.wait(30) == 0
        finally:
            if server.poll() is None:
                server.kill()
    assert statuses == {401}  # every worker read the file: anonymous access is off


def test_serve_closes_trickling_connections_in_every_worker_and_takes_an_ops_key_for_metrics(tmp_path):
    ops = run_mleditor("keys", "create", "--name", "prometheus", "--scopes", "ops",
                       "--store", str(tmp_path / "serve.db")).stdout.strip()
    server, base = start_server(tmp_path, "--workers", "2", MLEDITOR_SERVE_HEADER_DEADLINE_S="1",
                                MLEDITOR_SERVE_ANONYMOUS_ENABLED="false")
    with server:
        try:
            metrics = [httpx.get(base + "/metrics", headers=headers).status_code
                       for headers in ({}, {"Authorization": f"Bearer {ops}"})]
            # 200 clients each sending a byte of their headers every 0.2 s: they used to stay open for good.
            seconds = _seconds_until_trickling_sockets_close(int(base.rsplit(":", 1)[1]), 200, every_s=0.2)
            still_serving = httpx.get(base + "/healthz").status_code
            server.send_signal(signal.SIGTERM)
            assert server.wait(30) == 0
        finally:
            if server.poll() is None:
                server.kill()
    assert metrics == [401, 200] and still_serving == 200
    assert seconds < 5, f"trickling connections closed after {seconds:.1f} s; header_deadline_s is 1"


def _seconds_until_trickling_sockets_close(port: int, count: int, every_s: float, limit_s: float = 10) -> float:
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    try:
        return trickle_until_closed(sockets, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 200, every_s,
                                    for_s=limit_s)
    finally:
        for sock in sockets:
            sock.close()


def _status_for_announced_10_mb_body(base: str) -> int:
    """Send only the headers of a 10 MB upload: the 413 must come back without the body being sent."""
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=5) as sock:
        sock.sendall(b"POST /predict/v2 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 10485760\r\n\r\n")
        status_line = sock.recv(4096).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


def test_autoscaling_flags_are_checked_and_belong_to_the_ray_engine():
    local = run_mleditor("serve", "--max-replicas", "4")
    assert local.returncode == 2 and "--max-replicas applies to --engine ray only" in local.stderr
    bad = run_mleditor("serve", "--engine", "ray", "--min-replicas", "3", "--max-replicas", "2")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "max_replicas" in bad.stderr
    assert "Traceback" not in local.stderr + bad.stderr
