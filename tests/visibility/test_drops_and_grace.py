"""Integration-level checks of edges of DESIGN.md section 2: names no rule
covers (dropped and counted by default, delivered to everyone with
--deliver-uncovered true unless their family has a restricted rule), the
tombstone grace period, and a rejected publish batch teaching no membership."""

import asyncio
import json

import herald_harness as h

ALICE = "aaaaaaaaaaaaaaaaaaaaaaa1"
BOB = "bbbbbbbbbbbbbbbbbbbbbbb2"
MALLORY = "99999999999999999999999a"
USERS = [ALICE, BOB, MALLORY]

UNCOVERED = [
    "areas.63defc396948b13d3936645b.trainers.t1.moved",
    "regions.r1.created",
    "regions.r1.encounters.e1.updated",
    "misc",
]
PUBLIC = "users.aaaaaaaaaaaaaaaaaaaaaaa1.updated"


async def publish_and_collect(server, items):
    clients = [h.Client(server, u) for u in USERS]
    await h.connect_all(clients)
    try:
        for c in clients:
            await c.subscribe(">")
        await asyncio.gather(*(c.barrier() for c in clients))
        async with h.Publisher(server) as publisher:
            await publisher.publish(items)
            await h.finish(publisher, clients)
        return {c.user: [e[0] for e in h.strip_sentinels(c)] for c in clients}
    finally:
        await h.close_all(clients)


def test_uncovered_names_are_dropped_and_counted_by_default(vis_servers):
    server = vis_servers("uncovered-default").start()
    items = [h.item(n, {"x": 1}) for n in UNCOVERED] + [h.item(PUBLIC, {"name": "A"})]
    got = asyncio.run(publish_and_collect(server, items))
    for user in USERS:
        assert got[user] == [PUBLIC], f"{user} received {got[user]}"
    assert server.metric("herald_drops_total", 'reason="uncovered_name"') == len(UNCOVERED)
    text = server.metrics()
    assert "# TYPE herald_drops_total counter" in text


# Names no rule covers, but in a family with a restricted rule: private even
# with the switch on.
UNCOVERED_RESTRICTED = [
    "regions.r1.created",
    "regions.r1.encounters.e1.updated",
    "groups.g1.renamed",
    "trainers.t1.updated",
    "encounters.e1.updated",
]


def test_uncovered_names_reach_everyone_when_configured(vis_servers):
    server = vis_servers("uncovered-everyone", "--deliver-uncovered", "true").start()
    names = UNCOVERED + [n for n in UNCOVERED_RESTRICTED if n not in UNCOVERED]
    open_names = [n for n in names if n not in UNCOVERED_RESTRICTED]
    items = [h.item(n, {"x": 1}) for n in names] + [h.item(PUBLIC, {"name": "A"})]
    got = asyncio.run(publish_and_collect(server, items))
    for user in USERS:
        assert got[user] == open_names + [PUBLIC], f"{user} received {got[user]}"
    dropped = len(names) - len(open_names)
    assert server.metric("herald_drops_total", 'reason="uncovered_name"') == dropped


GRACE_MS = 1500
R1 = "0000000000000000000000r1"
T_ALICE, T_BOB = "00000000000000000000ta01", "00000000000000000000tb01"
E1 = "0000000000000000000000e1"


def test_tombstone_grace_for_cascaded_deletes(vis_servers):
    server = vis_servers("grace", "--tombstone-grace-ms", str(GRACE_MS)).start()

    async def scenario():
        clients = [h.Client(server, u) for u in USERS]
        await h.connect_all(clients)
        try:
            for c in clients:
                await c.subscribe(">")
            await asyncio.gather(*(c.barrier() for c in clients))
            async with h.Publisher(server) as publisher:
                await publisher.publish([
                    h.item(f"regions.{R1}.trainers.{T_ALICE}.created",
                           {"_id": T_ALICE, "region": R1, "user": ALICE}),
                    h.item(f"regions.{R1}.trainers.{T_BOB}.created",
                           {"_id": T_BOB, "region": R1, "user": BOB}),
                    h.item(f"regions.{R1}.encounters.{E1}.created", {"_id": E1}),
                ])
                # Within grace: the deleted trainer's and encounter's cascades
                # reach the region (and the trainer's former owner). One batch,
                # so "within" holds however slow the machine is.
                await publisher.publish([
                    h.item(f"regions.{R1}.trainers.{T_BOB}.deleted", {"_id": T_BOB}),
                    h.item(f"regions.{R1}.encounters.{E1}.deleted", {"_id": E1}),
                    h.item(f"trainers.{T_BOB}.monsters.m1.deleted", {"n": 1}),
                    h.item(f"trainers.{T_BOB}.items.i1.deleted", {"n": 1}),
                    h.item(f"encounters.{E1}.opponents.o1.deleted", {"n": 1}),
                    h.item(f"encounters.{E1}.trainers.{T_BOB}.opponents.o2.deleted", {"n": 1}),
                ])
                # The only sleep that asserts timing: waiting past the grace
                # (the server stamped the deletions before answering 202).
                await asyncio.sleep(GRACE_MS / 1000 + 0.7)
                await publisher.publish([
                    h.item(f"trainers.{T_BOB}.monsters.m2.deleted", {"n": 2}),
                    h.item(f"trainers.{T_BOB}.items.i2.deleted", {"n": 2}),
                    h.item(f"encounters.{E1}.opponents.o3.deleted", {"n": 2}),
                    h.item(f"encounters.{E1}.trainers.{T_BOB}.opponents.o4.deleted", {"n": 2}),
                    # Still a live trainer: resolves as before.
                    h.item(f"trainers.{T_ALICE}.monsters.m3.created", {"n": 3}),
                ])
                await h.finish(publisher, clients)
            return {c.user: [e[0] for e in h.strip_sentinels(c)] for c in clients}
        finally:
            await h.close_all(clients)

    got = asyncio.run(scenario())
    within = [
        f"regions.{R1}.trainers.{T_BOB}.deleted",
        f"regions.{R1}.encounters.{E1}.deleted",
        f"trainers.{T_BOB}.monsters.m1.deleted",
        f"trainers.{T_BOB}.items.i1.deleted",
        f"encounters.{E1}.opponents.o1.deleted",
        f"encounters.{E1}.trainers.{T_BOB}.opponents.o2.deleted",
    ]
    created_alice = f"regions.{R1}.trainers.{T_ALICE}.created"
    created_bob = f"regions.{R1}.trainers.{T_BOB}.created"
    created_e1 = f"regions.{R1}.encounters.{E1}.created"
    live = f"trainers.{T_ALICE}.monsters.m3.created"
    assert got[ALICE] == [created_alice, created_bob, created_e1, *within, live], got[ALICE]
    # Bob: a member until his trainer's deletion, which reaches him; after it
    # only the cascades of his own trainer (as its owner) within grace.
    assert got[BOB] == [created_bob, created_e1, f"regions.{R1}.trainers.{T_BOB}.deleted",
                        f"trainers.{T_BOB}.monsters.m1.deleted",
                        f"trainers.{T_BOB}.items.i1.deleted"], got[BOB]
    assert got[MALLORY] == [], got[MALLORY]
    assert server.metric("herald_drops_total", 'reason="unknown_trainer"') == 2
    assert server.metric("herald_drops_total", 'reason="unknown_encounter"') == 2


def test_rejected_batch_teaches_no_membership(vis_servers):
    """A batch with one bad item publishes nothing (DESIGN.md section 3), so
    its valid membership changes must not be learned either."""
    server = vis_servers("rejected").start()
    group = "0000000000000000000000g1"

    async def scenario():
        clients = [h.Client(server, u) for u in USERS]
        await h.connect_all(clients)
        try:
            for c in clients:
                await c.subscribe(">")
            await asyncio.gather(*(c.barrier() for c in clients))
            async with h.Publisher(server) as publisher:
                await publisher.publish(h.item(f"groups.{group}.created", {"members": [ALICE]}))
                bad = [h.item(f"groups.{group}.updated", {"members": [ALICE, MALLORY]}),
                       h.item(f"regions.{R1}.trainers.{T_BOB}.created", {"user": MALLORY}),
                       {"event": "not..valid"}]
                async with publisher.session.post(server.base + "/publish",
                                                  data=json.dumps(bad)) as r:
                    assert r.status == 400, await r.text()
                await publisher.publish([
                    h.item(f"groups.{group}.messages.m1.created", {"body": "private"}),
                    h.item(f"trainers.{T_BOB}.monsters.m1.created", {"n": 1}),
                ])
                await h.finish(publisher, clients)
            return {c.user: [e[0] for e in h.strip_sentinels(c)] for c in clients}
        finally:
            await h.close_all(clients)

    got = asyncio.run(scenario())
    assert got[ALICE] == [f"groups.{group}.created", f"groups.{group}.messages.m1.created"], got
    assert got[BOB] == [] and got[MALLORY] == [], got
    assert server.metric("herald_drops_total", 'reason="unknown_trainer"') == 1
