"""Bad commands get a 400 error event and never close the connection
(DESIGN.md section 1, "Errors")."""

import asyncio

import pytest

from conftest import barrier, connect, error_event, recv, recv_raw, send, subscribe

BAD_COMMANDS = [
    ("not json", "invalid JSON"),
    ("", "invalid JSON"),
    ('{"event":"ping"} {}', "invalid JSON"),
    ('{"event":"subscribe","data":"users.*.*"', "invalid JSON"),
    ("[1,2]", "a command must be a JSON object"),
    ('"subscribe"', "a command must be a JSON object"),
    ("null", "a command must be a JSON object"),
    ('{"data":"users.*.*"}', 'missing "event"'),
    ('{"event":5,"data":"users.*.*"}', '"event" must be a string'),
    ('{"event":null}', '"event" must be a string'),
    ('{"event":"dance"}', 'unknown command "dance"'),
    ('{"event":"SUBSCRIBE","data":"users.*.*"}', 'unknown command "SUBSCRIBE"'),
    ('{"event":"subscribe","data":5}', 'subscribe needs a pattern string in "data"'),
    ('{"event":"subscribe"}', 'subscribe needs a pattern string in "data"'),
    ('{"event":"subscribe","data":["users.*.*"]}', 'subscribe needs a pattern string in "data"'),
    ('{"event":"unsubscribe","data":{}}', 'unsubscribe needs a pattern string in "data"'),
    ('{"event":"subscribe","data":""}', 'invalid pattern ""'),
    ('{"event":"subscribe","data":"users..created"}', 'invalid pattern "users..created"'),
    ('{"event":"subscribe","data":"users.*x.created"}', 'invalid pattern "users.*x.created"'),
    ('{"event":"subscribe","data":"users.>.created"}', 'invalid pattern "users.>.created"'),
    ('{"event":"subscribe","data":"users.{a,b}.created"}', 'invalid pattern "users.{a,b}.created"'),
    ('{"event":"subscribe","data":"users.#"}', 'invalid pattern "users.#"'),
    ('{"event":"subscribe","data":"users.u1."}', 'invalid pattern "users.u1."'),
    ('{"event":"unsubscribe","data":"a b"}', 'invalid pattern "a b"'),
    ('{"event":"subscribe","data":"' + ".".join(["a"] * 17) + '"}', None),
    ('{"event":"subscribe","data":"' + "a" * 256 + '"}', None),
]


async def assert_still_usable(server, ws):
    """ping -> pong, then a new subscription receives an event."""
    await subscribe(ws, "users.*.created")
    await server.event("users.u1.created", {"after": "error"})
    assert await recv(ws) == {"event": "users.u1.created", "data": {"after": "error"}}


@pytest.mark.parametrize("text,message", BAD_COMMANDS, ids=range(len(BAD_COMMANDS)))
async def test_bad_command_gets_400_and_connection_stays_usable(herald, text, message):
    ws = await connect(herald)
    await send(ws, text)
    reply = await recv(ws)
    if message is None:
        assert reply["event"] == "error" and reply["data"]["statusCode"] == 400
        assert reply["data"]["message"].startswith("invalid pattern")
    else:
        assert reply == error_event(400, message)
    await assert_still_usable(herald, ws)


async def test_error_is_one_text_frame_in_the_error_response_shape(herald):
    ws = await connect(herald)
    await send(ws, "{")
    assert await recv_raw(ws) == (
        '{"event":"error","data":{"statusCode":400,"error":"Bad Request","message":"invalid JSON"}}'
    )


async def test_many_bad_commands_in_a_row_do_not_close(herald):
    ws = await connect(herald)
    for i in range(100):
        await send(ws, f"garbage {i}")
    before = await barrier(ws)
    assert before == [error_event(400, "invalid JSON")] * 100
    await assert_still_usable(herald, ws)


async def test_error_echo_of_a_long_value_is_cut(herald):
    ws = await connect(herald)
    await send(ws, {"event": "x" * 1000})
    reply = await recv(ws)
    assert reply["data"]["statusCode"] == 400
    assert len(reply["data"]["message"]) < 200


async def test_control_characters_in_echoed_values_stay_valid_json(herald):
    ws = await connect(herald)
    await send(ws, '{"event":"a\\u0000\\n\\"b"}')
    reply = await recv(ws)  # would raise if the server broke the JSON
    assert reply["data"]["statusCode"] == 400
    await assert_still_usable(herald, ws)


async def test_bad_command_does_not_affect_earlier_subscriptions(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*.*")
    await send(ws, '{"event":"unsubscribe","data":"users.*."}')
    assert await barrier(ws) == [error_event(400, 'invalid pattern "users.*."')]
    await herald.event("users.u1.updated", 1)
    assert await recv(ws) == {"event": "users.u1.updated", "data": 1}


async def test_extra_fields_in_a_command_are_ignored(herald):
    ws = await connect(herald)
    await send(ws, '{"event":"subscribe","data":"users.*.*","id":7,"extra":{"x":[1]}}')
    assert await barrier(ws) == []
    await herald.event("users.u1.updated", 1)
    assert await recv(ws) == {"event": "users.u1.updated", "data": 1}


async def test_binary_frames_are_read_like_text(herald):
    ws = await connect(herald)
    await send(ws, b'{"event":"subscribe","data":"users.*.*"}')
    await send(ws, b'{"event":"ping"}')
    assert await recv_raw(ws) == '{"event":"pong"}'
    await herald.event("users.u1.updated", 1)
    assert await recv(ws) == {"event": "users.u1.updated", "data": 1}
    await send(ws, b"\x00\x01 not json")
    assert await recv(ws) == error_event(400, "invalid JSON")
    await assert_still_usable(herald, ws)


async def test_fragmented_command_is_reassembled(herald):
    ws = await connect(herald)
    await ws.send(iter(['{"event":"subs', 'cribe","data":"users', '.*.*"}']))
    assert await barrier(ws) == []
    await herald.event("users.u1.updated", 1)
    assert await recv(ws) == {"event": "users.u1.updated", "data": 1}


async def test_utf8_split_across_fragments_is_accepted(herald):
    ws = await connect(herald)
    text = '{"event":"ping","data":"caf\u00e9 \u2713"}'
    raw = text.encode()
    cut = raw.index("\u00e9".encode()) + 1  # inside the two-byte sequence
    # websockets sends bytes fragments as binary; Herald reads binary like text.
    await ws.send(iter([raw[:cut], raw[cut:]]))
    assert await recv_raw(ws) == '{"event":"pong"}'


async def test_websocket_ping_frames_are_answered(herald):
    ws = await connect(herald)
    pong_waiter = await ws.ping(b"hello")
    latency = await asyncio.wait_for(pong_waiter, 5)
    assert latency is None or latency >= 0
    await assert_still_usable(herald, ws)
