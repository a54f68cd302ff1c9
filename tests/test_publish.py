"""POST /publish: batches, validation, keys, size limit, byte-for-byte data
and the users audience (DESIGN.md section 3)."""

import pytest

from conftest import connect, raw_http, receive_until, recv, recv_raw, subscribe

SENTINEL = "sentinel.done"


async def names_before_sentinel(ws):
    return [m["event"] for m in await receive_until(ws, SENTINEL)][:-1]


async def subscribed_client(server, sub="alice"):
    ws = await connect(server, sub)
    await subscribe(ws, "users.>", SENTINEL)
    return ws


async def test_single_event_is_accepted_and_delivered(herald):
    ws = await subscribed_client(herald)
    status, body = await herald.publish({"event": "users.u1.created", "data": {"name": "Alice"}})
    assert (status, body) == (202, {"accepted": 1})
    assert await recv(ws) == {"event": "users.u1.created", "data": {"name": "Alice"}}


async def test_array_is_accepted_and_delivered_in_order(herald):
    ws = await subscribed_client(herald)
    batch = [{"event": f"users.u{i}.created", "data": i} for i in range(5)]
    status, body = await herald.publish(batch)
    assert (status, body) == (202, {"accepted": 5})
    assert [await recv(ws) for _ in range(5)] == batch


@pytest.mark.parametrize(
    "bad_item,problem",
    [
        ({"data": 1}, 'missing "event"'),
        ({"event": 7}, '"event" must be a string'),
        ({"event": "users..created"}, "not a valid event name"),
        ({"event": "users.*.created"}, "not a valid event name"),
        ({"event": "users.u1.created", "users": "alice"}, '"users" must be an array'),
        ({"event": "users.u1.created", "users": [1]}, '"users" must be an array'),
        ({"event": "users.u1.created", "extra": 1}, 'unknown field "extra"'),
        ("users.u1.created", "must be an object"),
    ],
)
async def test_one_bad_item_rejects_the_whole_batch(herald, bad_item, problem):
    ws = await subscribed_client(herald)
    batch = [{"event": "users.u0.created"}, bad_item, {"event": "users.u2.created"}]
    status, body = await herald.publish(batch, expect=400)
    assert body["statusCode"] == 400
    assert len(body["problems"]) == 1
    assert body["problems"][0].startswith("item 1: ")
    assert problem in body["problems"][0]
    await herald.event(SENTINEL)
    assert await names_before_sentinel(ws) == []


async def test_every_bad_item_is_named(herald):
    batch = [{"event": 1}, {"event": "users.u1.created"}, {"nope": True}]
    _, body = await herald.publish(batch, expect=400)
    assert [p.split(":")[0] for p in body["problems"]] == ["item 0", "item 2"]


@pytest.mark.parametrize(
    "body",
    ["", "{", "not json", '{"event":"users.u1.created"} trailing', "[]", "42", "null"],
    ids=["empty", "truncated", "text", "trailing-garbage", "empty-array", "number", "null"],
)
async def test_body_that_is_not_events_is_a_400(herald, body):
    ws = await subscribed_client(herald)
    status, answer = await herald.publish(body, expect=400)
    assert answer["statusCode"] == 400 and answer["problems"]
    await herald.event(SENTINEL)
    assert await names_before_sentinel(ws) == []


@pytest.mark.parametrize("key", [False, "", "wrong-key"], ids=["no-header", "empty", "wrong"])
async def test_publish_without_the_right_key_is_a_401(herald, key):
    ws = await subscribed_client(herald)
    status, body = await herald.publish({"event": "users.u1.created"}, key=key, expect=401)
    assert body["statusCode"] == 401
    await herald.event(SENTINEL)
    assert await names_before_sentinel(ws) == []


async def test_publish_key_with_another_scheme_is_a_401(herald):
    headers = {"Authorization": f"Basic {herald.publish_key}"}
    await herald.publish({"event": "users.u1.created"}, key=False, headers=headers, expect=401)


async def test_publish_key_from_flag_replaces_the_generated_one(start_herald):
    server = start_herald("--publish-key", "k-from-flag", "--deliver-uncovered", "true")
    await server.publish({"event": "users.u1.created"}, key="k-from-flag", expect=202)
    await server.publish({"event": "users.u1.created"}, key="", expect=401)


async def test_publish_key_from_environment(start_herald):
    server = start_herald(env={"HERALD_PUBLISH_KEY": "k-from-env"})
    await server.publish({"event": "users.u1.created"}, key="k-from-env", expect=202)


async def test_body_over_max_publish_bytes_is_a_413(start_herald):
    server = start_herald("--max-publish-bytes", "2048", "--deliver-uncovered", "true")
    ws = await subscribed_client(server)
    big = {"event": "users.u1.created", "data": "x" * 3000}
    status, body = await server.publish(big, expect=413)
    assert body["statusCode"] == 413 and "2048" in body["message"]
    # Just under the limit still goes through.
    await server.publish({"event": "users.u2.created", "data": "x" * 1900})
    await server.event(SENTINEL)
    assert await names_before_sentinel(ws) == ["users.u2.created"]


async def test_get_on_publish_path_is_a_405(herald):
    assert herald.http_get("/publish")[0] == 405


@pytest.mark.parametrize(
    "data",
    [
        '{ "a" :1.50e+3,"b":[ 1 ,2 ] ,"s":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\/","n":-0.0}',
        "[1.0, 2E2, 1e-7, 18446744073709551615, -9223372036854775808]",
        '"\\u0041\\n\\t"',
        "3.14159265358979323846264338327950288",
        "-0",
        "true",
        "null",
        "{}",
        '{"nested":{"deep":[{"x":[[[]]]}]},"unicode":"été ✓"}',
    ],
)
async def test_data_is_forwarded_byte_for_byte(herald, data):
    ws = await subscribed_client(herald)
    await herald.publish('{"event":"users.u1.updated","data":' + data + "}")
    assert await recv_raw(ws) == '{"event":"users.u1.updated","data":' + data + "}"


async def test_data_forwarded_from_a_spaced_body(herald):
    ws = await subscribed_client(herald)
    await herald.publish('[ {  "data" :  [ 1 ],\n "event" : "users.u1.updated" } ]')
    await herald.publish('{"event":"users.u1.updated","data": "s" ,"users":["alice"]}')
    assert await recv_raw(ws) == '{"event":"users.u1.updated","data":[ 1 ]}'
    assert await recv_raw(ws) == '{"event":"users.u1.updated","data":"s"}'


@pytest.mark.parametrize("data", ['{"k" : 1}', "[ 1 ]"])
async def test_whitespace_after_structured_data_is_not_part_of_it(herald, data):
    ws = await subscribed_client(herald)
    await herald.publish('{"data":' + data + '  ,\n "event":"users.u1.updated"}')
    assert await recv_raw(ws) == '{"event":"users.u1.updated","data":' + data + "}"


# JSON lets a parser limit numbers (RFC 8259 section 9); Herald refuses what
# does not fit a 64-bit integer or a double, says so, and publishes nothing.
@pytest.mark.parametrize(
    "number", ["123456789012345678901234567890", "-9223372036854775809", "1e400"]
)
async def test_data_with_numbers_beyond_64_bits_is_refused_by_name(herald, number):
    ws = await subscribed_client(herald)
    body = '[{"event":"users.u0.updated"},{"event":"users.u1.updated","data":[' + number + "]}]"
    status, answer = await herald.publish(body, expect=400)
    assert "does not fit a 64-bit integer or a double" in answer["problems"][0]
    await herald.event(SENTINEL)
    assert await names_before_sentinel(ws) == []


async def test_data_with_64_bit_extremes_is_forwarded(herald):
    ws = await subscribed_client(herald)
    data = "[18446744073709551615,-9223372036854775808,1e-400]"
    await herald.publish('{"event":"users.u1.updated","data":' + data + "}")
    assert await recv_raw(ws) == '{"event":"users.u1.updated","data":' + data + "}"


async def test_event_without_data_is_sent_as_name_only(herald):
    ws = await subscribed_client(herald)
    await herald.publish('{"event":"users.u1.deleted"}')
    assert await recv_raw(ws) == '{"event":"users.u1.deleted"}'


async def test_users_list_limits_the_audience(herald):
    alice = await subscribed_client(herald, "alice")
    bob = await subscribed_client(herald, "bob")
    carol = await subscribed_client(herald, "carol")
    await herald.event("users.u1.updated", {"secret": 1}, users=["alice", "carol", "nobody"])
    await herald.event(SENTINEL)
    assert await names_before_sentinel(alice) == ["users.u1.updated"]
    assert await names_before_sentinel(carol) == ["users.u1.updated"]
    assert await names_before_sentinel(bob) == []


async def test_empty_users_list_reaches_nobody(herald):
    alice = await subscribed_client(herald, "alice")
    await herald.event("users.u1.updated", 1, users=[])
    await herald.event(SENTINEL)
    assert await names_before_sentinel(alice) == []


async def test_users_list_reaches_every_connection_of_a_listed_user(herald):
    a1 = await subscribed_client(herald, "alice")
    a2 = await subscribed_client(herald, "alice")
    await herald.event("users.u1.updated", 1, users=["alice"])
    assert await recv(a1) == {"event": "users.u1.updated", "data": 1}
    assert await recv(a2) == {"event": "users.u1.updated", "data": 1}


async def test_events_in_counts_published_events(herald):
    await herald.publish([{"event": "users.u1.created"}, {"event": "users.u2.created"}])
    await herald.publish({"event": "users.u3.created"})
    await herald.publish([{"event": 1}], expect=400)
    assert herald.metric("herald_events_in_total") == 3


def test_wrong_key_is_refused_before_the_body_is_sent(herald):
    # The header alone decides: the server answers 401 without waiting for a
    # body it would never accept, even one declared far over the limit.
    head = (
        "POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n"
        "Content-Type: application/json\r\nContent-Length: 900000000\r\n\r\n"
    )
    assert raw_http(herald, head)[0] == 401


def test_declared_length_over_the_limit_is_a_413_before_the_body(start_herald):
    server = start_herald("--max-publish-bytes", "2048")
    head = (
        f"POST /publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {server.publish_key}\r\n"
        "Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
    )
    status, response = raw_http(server, head)
    assert status == 413 and "2048" in response
