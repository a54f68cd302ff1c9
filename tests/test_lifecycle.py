"""Keepalive, graceful shutdown, health and metrics (DESIGN.md sections 1
and 5)."""

import asyncio
import signal
import time

import pytest

from conftest import RawClient, barrier, connect, error_event, expect_close, recv, subscribe

KEEPALIVE = ("--ping-interval-ms", "200", "--ping-timeout-ms", "200")


# -- keepalive ------------------------------------------------------------------


async def test_peer_that_never_answers_pings_is_dropped(start_herald):
    server = start_herald(*KEEPALIVE)
    raw = RawClient(server)
    raw.send_text('{"event":"subscribe","data":"users.*.*"}')
    raw.send_text('{"event":"subscribe","data":"groups.*.*"}')
    assert raw.barrier() == []
    assert server.metric("herald_subscriptions") == 2
    # The server pings an idle peer; this one reads but never answers.
    opcode, _ = await asyncio.to_thread(raw.recv_frame)
    assert opcode == 0x9
    assert await asyncio.to_thread(raw.at_eof, 10)
    assert server.metric("herald_drops_total", reason="ping_timeout") == 1
    await server.wait_metric("herald_subscriptions", lambda v: v == 0)
    await server.wait_metric("herald_connections", lambda v: v == 0)


async def test_peer_that_answers_pings_stays_connected(start_herald):
    server = start_herald(*KEEPALIVE)
    raw = RawClient(server)
    raw.send_text('{"event":"subscribe","data":"users.*.*"}')
    assert raw.barrier() == []
    pings = 0
    while pings < 4:  # four ping rounds: well past interval + timeout
        opcode, payload = await asyncio.to_thread(raw.recv_frame)
        assert opcode == 0x9
        raw.send_frame(0xA, payload)
        pings += 1
    assert raw.barrier() == []
    await server.event("users.u1.created", 1)
    assert raw.recv_json() == {"event": "users.u1.created", "data": 1}
    assert server.metric("herald_drops_total", reason="ping_timeout") == 0


async def test_websockets_client_survives_many_ping_intervals(start_herald):
    server = start_herald(*KEEPALIVE)
    ws = await connect(server)
    await subscribe(ws, "users.*.*")
    await asyncio.sleep(1.5)  # idle for several intervals; the library answers pings
    assert await barrier(ws) == []
    await server.event("users.u1.created", 1)
    assert await recv(ws) == {"event": "users.u1.created", "data": 1}
    assert server.metric("herald_drops_total", reason="ping_timeout") == 0


async def test_busy_connection_is_not_dropped_for_pings(start_herald):
    server = start_herald(*KEEPALIVE)
    raw = RawClient(server)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # keeps sending commands, never answers pings
        raw.send_text('{"event":"ping"}')
        while True:
            opcode, payload = raw.recv_frame()
            if opcode == 0x1:
                break
        await asyncio.sleep(0.05)
    assert raw.barrier() == []
    assert server.metric("herald_drops_total", reason="ping_timeout") == 0


# -- shutdown ------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_closes_clients_with_1001_and_exits_zero(start_herald, sig):
    server = start_herald()
    clients = [await connect(server, f"user{i}") for i in range(3)]
    for ws in clients:
        await subscribe(ws, "users.*.*")
    server.proc.send_signal(sig)
    for ws in clients:
        frames, code, _ = await expect_close(ws)
        assert (frames, code) == ([], 1001)
    assert await asyncio.to_thread(server.proc.wait, 15) == 0


async def test_shutdown_finishes_even_if_a_client_ignores_the_close(start_herald):
    server = start_herald()
    raw = RawClient(server)
    assert raw.barrier() == []
    server.proc.send_signal(signal.SIGTERM)
    frames, code = await asyncio.to_thread(raw.read_until_close)
    assert (frames, code) == ([], 1001)
    # No close frame is sent back; the server still exits, and cleanly.
    assert await asyncio.to_thread(server.proc.wait, 15) == 0


async def test_shutdown_with_no_clients_exits_zero(start_herald):
    server = start_herald()
    assert await asyncio.to_thread(server.stop) == 0
    assert "herald stopped" in server.logs()


# -- health and metrics ------------------------------------------------------------------


def test_healthz_and_readyz_answer_200(herald):
    assert herald.http_get("/healthz")[0] == 200
    assert herald.http_get("/readyz")[0] == 200


def test_unknown_http_path_is_404(herald):
    assert herald.http_get("/nope")[0] == 404


async def test_metrics_count_connections_subscriptions_events_and_frames(herald):
    before = herald.metrics()
    for name in (
        "herald_connections",
        "herald_subscriptions",
        "herald_events_in_total",
        "herald_frames_out_total",
    ):
        assert before[(name, frozenset())] == 0
    for reason in ("slow_consumer", "ping_timeout", "rate_abuse", "frame_too_big", "invalid_utf8"):
        assert before[("herald_drops_total", frozenset({("reason", reason)}))] == 0

    a = await connect(herald, "alice")
    b = await connect(herald, "bob")
    await subscribe(a, "users.*.*", "groups.*.*")  # one pong
    await subscribe(b, "users.*.*")  # one pong
    assert herald.metric("herald_connections") == 2
    assert herald.metric("herald_subscriptions") == 3
    await herald.publish([{"event": "users.u1.created"}, {"event": "users.u2.created"}])
    for ws in (a, b):
        await recv(ws)
        await recv(ws)
    assert herald.metric("herald_events_in_total") == 2
    # 2 pongs + 2 events to each of 2 clients.
    await herald.wait_metric("herald_frames_out_total", lambda v: v == 6)


async def test_metrics_count_auth_failures_by_reason(herald):
    for token in ("", "garbage", herald.token(ttl_s=-3600), herald.token(key="k" * 32)):
        ws = await connect(herald, token=token)
        frames, code, _ = await expect_close(ws)
        assert code == 4401
    assert herald.metric("herald_auth_failures_total", reason="missing_token") == 1
    assert herald.metric("herald_auth_failures_total", reason="malformed") == 1
    assert herald.metric("herald_auth_failures_total", reason="expired") == 1
    assert herald.metric("herald_auth_failures_total", reason="bad_signature") == 1


async def test_metrics_count_command_errors(herald):
    ws = await connect(herald)
    await ws.send("nope")
    assert await recv(ws) == error_event(400, "invalid JSON")
    assert herald.metric("herald_command_errors_total") == 1
