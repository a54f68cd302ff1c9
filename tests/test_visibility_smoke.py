"""Smoke test of who sees what (DESIGN.md section 2); the full visibility
suite is tests/visibility/."""

from conftest import connect, receive_until, recv, subscribe

GROUP = "groups.507f191e810c19729de860ea"


async def test_group_message_reaches_only_the_groups_members(start_herald):
    server = start_herald()  # default visibility rules, nothing uncovered delivered
    clients = {user: await connect(server, user) for user in ("alice", "bob", "carol")}
    for ws in clients.values():
        await subscribe(ws, "groups.*.*", "groups.*.messages.*.*", "users.*.*")

    await server.event(f"{GROUP}.created", {"_id": "g", "members": ["alice", "bob"]})
    await server.event(f"{GROUP}.messages.m1.created", {"body": "hi"})
    await server.event("users.sentinel.updated")  # everyone sees users events

    for user in ("alice", "bob"):
        names = [m["event"] for m in await receive_until(clients[user], "users.sentinel.updated")]
        assert names == [f"{GROUP}.created", f"{GROUP}.messages.m1.created", "users.sentinel.updated"]
    assert await recv(clients["carol"]) == {"event": "users.sentinel.updated"}


async def test_event_no_rule_covers_is_dropped_by_default(start_herald):
    server = start_herald()
    ws = await connect(server)
    await subscribe(ws, ">", "users.*.*")
    await server.event("unknown.family.created", 1)
    await server.event("users.u1.created", 2)
    assert await recv(ws) == {"event": "users.u1.created", "data": 2}
    assert server.metric("herald_events_in_total") == 2
