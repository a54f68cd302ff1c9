"""Per-connection limits and their error events or close codes
(DESIGN.md section 1, "Limits" and "Errors")."""

import asyncio
import json
import time

import pytest

import websockets

from conftest import (
    RawClient,
    barrier,
    connect,
    error_event,
    expect_close,
    recv,
    recv_raw,
    send,
    subscribe,
)


def ping_with_size(size):
    """A ping command of exactly size bytes."""
    head, tail = '{"event":"ping","data":"', '"}'
    return head + "x" * (size - len(head) - len(tail)) + tail


# -- inbound frame size --------------------------------------------------------


async def test_frame_at_the_limit_is_accepted(start_herald):
    server = start_herald("--max-frame-bytes", "1024")
    ws = await connect(server)
    await send(ws, ping_with_size(1024))
    assert await recv_raw(ws) == '{"event":"pong"}'


async def test_frame_over_the_limit_closes_with_1009(start_herald):
    server = start_herald("--max-frame-bytes", "1024")
    ws = await connect(server)
    await subscribe(ws, "users.*.*")
    await send(ws, ping_with_size(1025))
    frames, code, _ = await expect_close(ws)
    assert (frames, code) == ([], 1009)
    assert server.metric("herald_drops_total", reason="frame_too_big") == 1
    await server.wait_metric("herald_subscriptions", lambda v: v == 0)


async def test_fragmented_message_over_the_limit_closes_with_1009(start_herald):
    server = start_herald("--max-frame-bytes", "1024")
    ws = await connect(server)
    await ws.send(iter(["x" * 600, "y" * 600]))  # each fragment fits, the message does not
    frames, code, _ = await expect_close(ws)
    assert (frames, code) == ([], 1009)


async def test_oversized_frame_header_is_refused_without_reading_the_payload(start_herald):
    server = start_herald("--max-frame-bytes", "1024")
    raw = RawClient(server)
    # Declare a 1 GiB frame but send only a few bytes of it.
    raw.sock.sendall(RawClient.frame(0x1, b"x" * 10, length=1 << 30)[:20])
    frames, code = raw.read_until_close()
    assert (frames, code) == ([], 1009)
    assert raw.at_eof(timeout=10)


async def test_frame_limit_holds_before_authentication(start_herald):
    server = start_herald("--max-frame-bytes", "1024")
    raw = RawClient(server, token="")
    assert raw.status == 101
    raw.sock.sendall(RawClient.frame(0x1, b"x" * 10, length=1 << 30)[:20])
    frames, code = raw.read_until_close()
    # The refusal is decided first; the oversized frame is still caught at
    # its header rather than buffered.
    assert [json.loads(p) for _, p in frames] == [error_event(401, "missing token")]
    assert code == 4401
    await server.wait_metric("herald_drops_total", lambda v: v == 1, reason="frame_too_big")
    assert raw.at_eof(timeout=10)


async def test_commands_sent_with_the_upgrade_request_are_read(herald):
    # Frames that arrive in the same packets as the HTTP request must not be
    # lost (or overflow anything): 60 KB of pipelined commands.
    commands = [ping_with_size(4000) for _ in range(15)]
    extra = b"".join(RawClient.frame(0x1, c.encode()) for c in commands)
    raw = RawClient(herald, extra=extra)
    assert raw.status == 101
    assert [raw.recv_json() for _ in range(15)] == [{"event": "pong"}] * 15
    assert raw.barrier() == []


async def test_small_command_sent_with_the_upgrade_request_is_read(herald):
    extra = RawClient.frame(0x1, b'{"event":"subscribe","data":"users.*.*"}')
    raw = RawClient(herald, extra=extra)
    assert raw.barrier() == []
    await herald.event("users.u1.created", 1)
    assert raw.recv_json() == {"event": "users.u1.created", "data": 1}


# -- invalid UTF-8 ----------------------------------------------------------------


async def test_text_frame_with_invalid_utf8_closes_with_1007(herald):
    raw = RawClient(herald)
    raw.send_text(b'{"event":"ping","data":"\xff\xfe"}')
    frames, code = raw.read_until_close()
    assert (frames, code) == ([], 1007)
    assert herald.metric("herald_drops_total", reason="invalid_utf8") == 1


async def test_invalid_utf8_across_fragments_closes_with_1007(herald):
    raw = RawClient(herald)
    raw.send_frame(0x1, b'{"event":"ping","data":"\xc3', fin=False)
    raw.send_frame(0x0, b'("}')  # 0xC3 0x28 is not a UTF-8 sequence
    frames, code = raw.read_until_close()
    assert (frames, code) == ([], 1007)


async def test_valid_multibyte_utf8_is_accepted(herald):
    raw = RawClient(herald)
    raw.send_text('{"event":"ping","data":"h\u00e9llo \u2713 \U0001F600"}'.encode())
    assert raw.recv_json() == {"event": "pong"}


# -- subscriptions per connection -------------------------------------------------


async def test_subscription_over_the_limit_gets_429_and_connection_stays(start_herald):
    server = start_herald("--max-subscriptions", "3")
    ws = await connect(server)
    await subscribe(ws, "users.a.*", "users.b.*", "users.c.*")
    await send(ws, {"event": "subscribe", "data": "users.d.*"})
    assert await barrier(ws) == [error_event(429, "subscription limit of 3 reached")]
    # Held patterns can be subscribed again without error (a no-op).
    await subscribe(ws, "users.a.*")
    # Room is made by unsubscribing; then the new pattern works.
    await send(ws, {"event": "unsubscribe", "data": "users.a.*"})
    await subscribe(ws, "users.d.*")
    await server.publish([{"event": "users.d.created", "data": 4}, {"event": "users.b.created", "data": 2}])
    assert await recv(ws) == {"event": "users.d.created", "data": 4}
    assert await recv(ws) == {"event": "users.b.created", "data": 2}
    assert server.metric("herald_subscriptions") == 3


async def test_subscription_limit_is_per_connection(start_herald):
    server = start_herald("--max-subscriptions", "2")
    a = await connect(server, "alice")
    b = await connect(server, "alice")
    await subscribe(a, "users.a.*", "users.b.*")
    await subscribe(b, "users.a.*", "users.b.*")
    assert server.metric("herald_subscriptions") == 4


# -- command rate ------------------------------------------------------------------


async def test_commands_over_the_rate_get_429_and_connection_stays(start_herald):
    server = start_herald("--command-rate", "1", "--command-burst", "5", "--rate-abuse-limit", "1000")
    ws = await connect(server)
    for _ in range(12):
        await send(ws, {"event": "ping"})
    replies = [await recv(ws) for _ in range(12)]
    pongs = replies.count({"event": "pong"})
    limited = replies.count(error_event(429, "command rate limit exceeded; slow down"))
    assert 5 <= pongs <= 6 and pongs + limited == 12
    assert replies[:5] == [{"event": "pong"}] * 5
    # The bucket refills at one command a second: the connection recovers.
    deadline = time.monotonic() + 10
    while True:
        await send(ws, {"event": "ping"})
        if await recv(ws) == {"event": "pong"}:
            break
        assert time.monotonic() < deadline, "rate limit never recovered"
        await asyncio.sleep(0.25)
    assert not ws.closed


async def test_rate_limited_commands_have_no_effect(start_herald):
    server = start_herald(
        "--command-rate", "1", "--command-burst", "2", "--rate-abuse-limit", "1000",
        "--deliver-uncovered", "true",
    )
    ws = await connect(server)
    await send(ws, {"event": "subscribe", "data": "sentinel.done"})
    await send(ws, {"event": "ping"})
    await send(ws, {"event": "subscribe", "data": "users.*.*"})  # refused
    assert await recv(ws) == {"event": "pong"}
    assert (await recv(ws))["data"]["statusCode"] == 429
    await server.publish([{"event": "users.u1.created"}, {"event": "sentinel.done"}])
    assert await recv(ws) == {"event": "sentinel.done"}


async def test_commands_kept_over_the_rate_close_with_1008(start_herald):
    server = start_herald("--command-rate", "1", "--command-burst", "2", "--rate-abuse-limit", "5")
    ws = await connect(server)
    for _ in range(20):
        await send(ws, {"event": "ping"})
    frames, code, _ = await expect_close(ws)
    assert code == 1008
    assert 2 <= frames.count({"event": "pong"}) <= 3
    assert frames.count(error_event(429, "command rate limit exceeded; slow down")) == 5
    assert server.metric("herald_drops_total", reason="rate_abuse") == 1


# -- connections per user -------------------------------------------------------------


async def test_connections_over_the_per_user_limit_get_429_and_1008(start_herald):
    server = start_herald("--max-connections-per-user", "2")
    first = await connect(server, "alice")
    second = await connect(server, "alice")
    third = await connect(server, "alice")
    frames, code, _ = await expect_close(third)
    assert frames == [error_event(429, "too many connections for this user (limit 2)")]
    assert code == 1008
    # Other users are not affected, and the first two still work.
    bob = await connect(server, "bob")
    for ws in (first, second, bob):
        assert await barrier(ws) == []


async def test_closing_a_connection_frees_its_per_user_slot(start_herald):
    server = start_herald("--max-connections-per-user", "1")
    first = await connect(server, "alice")
    await first.close()
    deadline = time.monotonic() + 10
    while True:  # the slot is freed once the server has seen the close
        ws = await connect(server, "alice")
        try:
            assert await barrier(ws) == []
            break
        except websockets.ConnectionClosed:
            assert ws.close_code == 1008
            assert time.monotonic() < deadline, "slot never freed"
            await asyncio.sleep(0.05)


async def test_refused_connections_do_not_take_slots(start_herald):
    server = start_herald("--max-connections-per-user", "1")
    first = await connect(server, "alice")
    for _ in range(3):
        extra = await connect(server, "alice")
        _, code, _ = await expect_close(extra)
        assert code == 1008
    await first.close()
    await server.wait_metric("herald_connections", lambda v: v == 0)
    ws = await connect(server, "alice")
    assert await barrier(ws) == []


# -- slow consumers ----------------------------------------------------------------------


async def test_slow_consumer_is_closed_with_1013_while_others_keep_receiving(start_herald):
    server = start_herald("--max-queue-bytes", str(256 << 10), "--deliver-uncovered", "true")
    slow = RawClient(server, rcvbuf=4096)
    slow.send_text('{"event":"subscribe","data":"users.*.*"}')
    assert slow.barrier() == []  # from here on the slow client reads nothing

    fast = await connect(server, "fast")
    await subscribe(fast, "users.*.*", "sentinel.done")
    received = []

    async def read_fast():
        while True:
            message = json.loads(await fast.recv())
            if message["event"] == "sentinel.done":
                return
            received.append(message["data"]["i"])

    reader = asyncio.ensure_future(read_fast())
    rss_before_kib = server.rss_kib()
    payload = "p" * (16 << 10)
    published = 0
    for request in range(2000):  # at most 125 MiB; the close comes much sooner
        batch = [{"event": f"users.u{published + k}.updated", "data": {"i": published + k, "p": payload}} for k in range(4)]
        await server.publish(batch)
        published += 4
        # Keep the fast client fast even on a loaded machine: it shares this
        # event loop with the publisher, so let it catch up before going on.
        deadline = time.monotonic() + 10
        while len(received) < published - 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        if request % 8 == 7 and server.metric("herald_drops_total", reason="slow_consumer") >= 1:
            break
    assert server.metric("herald_drops_total", reason="slow_consumer") == 1
    rss_after_kib = server.rss_kib()

    # The slow client, reading again, finds a prefix of the events in order
    # and then close 1013.
    frames, code = await asyncio.to_thread(slow.read_until_close)
    assert code == 1013
    got = [json.loads(p)["data"]["i"] for _, p in frames]
    assert got == list(range(len(got))) and len(got) < published

    # The fast client got everything, in order, and is still connected.
    await server.event("sentinel.done")
    await asyncio.wait_for(reader, 30)
    assert received == list(range(published))
    assert await barrier(fast) == []
    assert rss_after_kib - rss_before_kib < 200 << 10, (rss_before_kib, rss_after_kib)


async def test_server_memory_stays_bounded_with_a_stalled_client(start_herald):
    server = start_herald("--max-queue-bytes", str(1 << 20))
    stalled = [RawClient(server, rcvbuf=4096, sub=f"s{i}") for i in range(4)]
    for raw in stalled:
        raw.send_text('{"event":"subscribe","data":"users.*.*"}')
        assert raw.barrier() == []
    rss_before_kib = server.rss_kib()
    payload = "q" * (64 << 10)
    for i in range(200):  # 50 MiB to each of four stalled clients
        await server.publish([{"event": f"users.u{i}.updated", "data": {"p": payload}}] * 4)
    await server.wait_metric("herald_drops_total", lambda v: v == 4, reason="slow_consumer")
    assert server.rss_kib() - rss_before_kib < 200 << 10


@pytest.mark.parametrize(
    "payload, code",
    [
        (b"", None),  # no code: answered with an empty close frame
        ((1000).to_bytes(2, "big") + b"bye", 1000),
        ((4000).to_bytes(2, "big"), 4000),
        (b"\x03", 1002),  # one byte cannot hold a code
        ((999).to_bytes(2, "big"), 1002),
        ((1005).to_bytes(2, "big"), 1002),  # reserved: never sent on the wire
        ((1000).to_bytes(2, "big") + b"\xff\xfe", 1007),
    ],
)
def test_close_frame_is_answered_per_rfc_6455(herald, payload, code):
    client = RawClient(herald)
    client.barrier()
    client.send_frame(0x8, payload)
    opcode, answer = client.recv_frame()
    assert opcode == 0x8
    assert (int.from_bytes(answer[:2], "big") if answer else None) == code
    assert client.at_eof(5)
    client.close()


def test_pings_flooded_at_a_peer_that_never_reads_do_not_grow_memory(start_herald):
    server = start_herald()
    client = RawClient(server, rcvbuf=4096)
    client.barrier()
    before = server.rss_kib()
    ping = RawClient.frame(0x9, b"p" * 125)
    for _ in range(40):
        client.sock.sendall(ping * 1000)  # 40,000 pings, never reading a pong
    client.sock.sendall(RawClient.frame(0x1, b'{"event":"ping"}'))
    time.sleep(0.5)
    # At most one pong waits for the stalled socket; 40,000 queued pongs
    # would be over 5 MB.
    assert server.rss_kib() - before < 3000
    client.close()
