"""Subscribe, unsubscribe and delivery semantics (API doc "Events",
DESIGN.md section 1)."""

import pytest

from conftest import (
    barrier,
    connect,
    receive_until,
    recv,
    recv_raw,
    send,
    subscribe,
    unsubscribe,
)

U1 = "507f191e810c19729de860ea"
U2 = "60bfe4dff98fef16e696ce6c"
SENTINEL = "sentinel.done"

# The API doc's examples: pattern, names it matches, names it does not.
API_DOC_EXAMPLES = [
    (
        f"users.{U1}.created",
        [f"users.{U1}.created"],
        [f"users.{U1}.updated", f"groups.{U1}.created", f"users.{U2}.created"],
    ),
    (
        "users.*.created",
        [f"users.{U1}.created", f"users.{U2}.created"],
        [f"users.{U1}.updated", f"groups.{U1}.created"],
    ),
    (
        f"users.{U1}.*",
        [f"users.{U1}.created", f"users.{U1}.updated", f"users.{U1}.deleted"],
        [f"groups.{U1}.updated", f"users.{U2}.deleted"],
    ),
    (
        "users.*.*",
        [
            f"users.{U1}.created",
            f"users.{U2}.updated",
            f"users.{U1}.deleted",
            f"users.{U2}.deleted",
        ],
        [f"groups.{U1}.updated"],
    ),
]


async def publish_all(server, names, audience):
    """Publishes each name in one batch, then the sentinel, all to audience."""
    batch = [{"event": n, "data": {"i": i}, "users": [audience]} for i, n in enumerate(names)]
    batch.append({"event": SENTINEL, "users": [audience]})
    await server.publish(batch)


async def received_names(ws):
    return [m["event"] for m in await receive_until(ws, SENTINEL)][:-1]


@pytest.mark.parametrize("pattern,matches,non_matches", API_DOC_EXAMPLES)
async def test_pattern_receives_exactly_the_api_doc_matches(herald, pattern, matches, non_matches):
    ws = await connect(herald, "alice")
    await subscribe(ws, pattern, SENTINEL)
    # Interleave so that order and filtering are both checked.
    names = [n for pair in zip(non_matches + [None] * 4, matches + [None] * 4) for n in pair if n]
    await publish_all(herald, names, "alice")
    assert await received_names(ws) == [n for n in names if n in matches]


async def test_delivered_event_carries_name_and_data(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*.*")
    await herald.event(f"users.{U1}.created", {"_id": U1, "name": "Alice"})
    assert await recv(ws) == {"event": f"users.{U1}.created", "data": {"_id": U1, "name": "Alice"}}


async def test_unsubscribe_with_the_exact_pattern_stops_delivery(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*.created", SENTINEL)
    await unsubscribe(ws, "users.*.created")
    await publish_all(herald, [f"users.{U1}.created"], "alice")
    assert await received_names(ws) == []


async def test_specific_unsubscribe_does_not_narrow_a_wildcard_subscription(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*.*", SENTINEL)
    await unsubscribe(ws, f"users.{U1}.created")
    await publish_all(herald, [f"users.{U1}.created", f"users.{U2}.updated"], "alice")
    assert await received_names(ws) == [f"users.{U1}.created", f"users.{U2}.updated"]


@pytest.mark.parametrize("wildcard", ["users.*.created", "users.*.*", "users.>"])
async def test_wildcard_unsubscribe_does_not_remove_specific_subscriptions(herald, wildcard):
    ws = await connect(herald)
    await subscribe(ws, f"users.{U1}.created", f"users.{U2}.created", SENTINEL)
    await unsubscribe(ws, wildcard)
    await publish_all(herald, [f"users.{U1}.created", f"users.{U2}.created"], "alice")
    assert await received_names(ws) == [f"users.{U1}.created", f"users.{U2}.created"]


async def test_subscribing_twice_is_one_subscription(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*.*", "users.*.*", SENTINEL)
    assert herald.metric("herald_subscriptions") == 2
    await publish_all(herald, [f"users.{U1}.created"], "alice")
    assert await received_names(ws) == [f"users.{U1}.created"]
    # One unsubscribe removes it: there was only one.
    await unsubscribe(ws, "users.*.*")
    await publish_all(herald, [f"users.{U1}.updated"], "alice")
    assert await received_names(ws) == []


async def test_unsubscribe_of_a_pattern_not_held_is_a_silent_no_op(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*.*", SENTINEL)
    await send(ws, {"event": "unsubscribe", "data": "regions.*.updated"})
    await send(ws, {"event": "unsubscribe", "data": "users.*.*.*"})
    assert await barrier(ws) == []  # no error, no acknowledgement
    await publish_all(herald, [f"users.{U1}.created"], "alice")
    assert await received_names(ws) == [f"users.{U1}.created"]


async def test_overlapping_patterns_deliver_each_event_once(herald):
    ws = await connect(herald)
    await subscribe(
        ws,
        "users.*.*",
        f"users.{U1}.*",
        "users.*.created",
        f"users.{U1}.created",
        "users.>",
        "*.*.*",
        SENTINEL,
    )
    await publish_all(herald, [f"users.{U1}.created", f"users.{U1}.created"], "alice")
    assert await received_names(ws) == [f"users.{U1}.created", f"users.{U1}.created"]


async def test_overlapping_patterns_of_two_connections_deliver_once_to_each(herald):
    a = await connect(herald, "alice")
    b = await connect(herald, "bob")
    await subscribe(a, "users.*.*", "users.>", SENTINEL)
    await subscribe(b, f"users.{U1}.created", "*.*.created", SENTINEL)
    batch = [{"event": f"users.{U1}.created"}, {"event": SENTINEL}]
    await herald.publish(batch)
    assert await received_names(a) == [f"users.{U1}.created"]
    assert await received_names(b) == [f"users.{U1}.created"]


async def test_events_arrive_in_publish_order(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*.*", SENTINEL)
    sent = []
    for batch_start in range(0, 600, 100):
        batch = [{"event": f"users.u{i}.updated", "data": i} for i in range(batch_start, batch_start + 100)]
        await herald.publish(batch)
        sent += [i for i in range(batch_start, batch_start + 100)]
    for i in range(600, 650):  # and one request per event
        await herald.event(f"users.u{i}.updated", i)
        sent.append(i)
    await herald.event(SENTINEL)
    received = await receive_until(ws, SENTINEL)
    assert [m["data"] for m in received[:-1]] == sent


async def test_pong_is_a_barrier_for_earlier_commands(herald):
    ws = await connect(herald)
    # Many commands, then ping: once pong is back, all of them hold.
    for i in range(50):
        await send(ws, {"event": "subscribe", "data": f"users.u{i}.created"})
    await send(ws, {"event": "ping", "data": {"anything": [1, 2]}})
    assert await recv_raw(ws) == '{"event":"pong"}'
    batch = [{"event": f"users.u{i}.created", "data": i} for i in range(50)]
    await herald.publish(batch)
    assert [(await recv(ws))["data"] for _ in range(50)] == list(range(50))


async def test_ping_without_data_gets_exact_pong(herald):
    ws = await connect(herald)
    await send(ws, '{"event":"ping"}')
    assert await recv_raw(ws) == '{"event":"pong"}'


async def test_subscriptions_are_freed_when_the_connection_closes(herald):
    a = await connect(herald, "alice")
    b = await connect(herald, "bob")
    await subscribe(a, "users.*.*", "groups.*.*", "regions.>")
    await subscribe(b, "users.*.*")
    assert herald.metric("herald_subscriptions") == 4
    assert herald.metric("herald_connections") == 2
    await a.close()
    await herald.wait_metric("herald_subscriptions", lambda v: v == 1)
    await herald.wait_metric("herald_connections", lambda v: v == 1)
    # The surviving connection still receives.
    await herald.event(f"users.{U1}.created")
    assert (await recv(b))["event"] == f"users.{U1}.created"


async def test_reconnecting_starts_without_subscriptions(herald):
    a = await connect(herald, "alice")
    await subscribe(a, "users.*.*")
    await a.close()
    a = await connect(herald, "alice")
    await subscribe(a, SENTINEL)
    await publish_all(herald, [f"users.{U1}.created"], "alice")
    assert await received_names(a) == []


async def test_tail_wildcard_matches_one_or_more_remaining_segments(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.>", SENTINEL)
    names = [
        f"users.{U1}.created",
        f"users.{U1}.achievements.a1.created",
        "users",  # `>` needs at least one more segment
        f"groups.{U1}.created",
        f"users.{U1}",
    ]
    await publish_all(herald, names, "alice")
    assert await received_names(ws) == [
        f"users.{U1}.created",
        f"users.{U1}.achievements.a1.created",
        f"users.{U1}",
    ]


async def test_star_matches_exactly_one_segment(herald):
    ws = await connect(herald)
    await subscribe(ws, "users.*", SENTINEL)
    await publish_all(herald, ["users.a", "users.a.b", "users", "userss.a"], "alice")
    assert await received_names(ws) == ["users.a"]


async def test_subscriptions_are_per_connection(herald):
    a1 = await connect(herald, "alice")
    a2 = await connect(herald, "alice")
    await subscribe(a1, "users.*.*", SENTINEL)
    await subscribe(a2, SENTINEL)
    await publish_all(herald, [f"users.{U1}.created"], "alice")
    assert await received_names(a1) == [f"users.{U1}.created"]
    assert await received_names(a2) == []


async def test_event_reaches_many_subscribers_identically(herald):
    clients = [await connect(herald, f"user{i}") for i in range(20)]
    for ws in clients:
        await subscribe(ws, "users.*.*")
    await herald.publish(f'{{"event":"users.{U1}.updated","data":{{"n": 1}}}}')
    frames = [await recv_raw(ws) for ws in clients]
    assert frames == [f'{{"event":"users.{U1}.updated","data":{{"n": 1}}}}'] * 20
