"""Memberships survive SIGKILL: built through one server process, killed with
SIGKILL, and a new process on the same --data-dir delivers group and region
events to exactly the members. A corrupt membership database is a startup
error, never a silent empty index; a write that fails is retried, reported,
and never lost."""

import asyncio
import os
import sqlite3
import time

import pytest

import herald_harness as h

ALICE = "aaaaaaaaaaaaaaaaaaaaaaa1"
BOB = "bbbbbbbbbbbbbbbbbbbbbbb2"
CAROL = "ccccccccccccccccccccccc3"   # two trainers in R1, deletes one
DAVE = "ddddddddddddddddddddddd4"    # only in R2
ERIN = "eeeeeeeeeeeeeeeeeeeeeee5"    # joins the group by update
FRANK = "fffffffffffffffffffffff6"   # owns an NPC in R1: not a member
MALLORY = "99999999999999999999999a"  # nothing anywhere
EVERYBODY = [ALICE, BOB, CAROL, DAVE, ERIN, FRANK, MALLORY]

G1, G2 = "0000000000000000000000g1", "0000000000000000000000g2"
R1, R2 = "0000000000000000000000r1", "0000000000000000000000r2"
T_ALICE, T_BOB = "00000000000000000000ta01", "00000000000000000000tb01"
T_CAROL1, T_CAROL2 = "00000000000000000000tc01", "00000000000000000000tc02"
T_DAVE, T_NPC = "00000000000000000000td01", "00000000000000000000tn01"
E1 = "0000000000000000000000e1"


def trainer(region, t, user, npc=False):
    data = {"_id": t, "region": region, "user": user, "name": "T", "x": 1, "y": 2}
    if npc:
        data["npc"] = {"walkRandomly": False, "canHeal": True}
    return h.item(f"regions.{region}.trainers.{t}.created", data)


MEMBERSHIPS = [
    h.item(f"groups.{G1}.created", {"_id": G1, "members": [ALICE, BOB, CAROL]}),
    h.item(f"groups.{G2}.created", {"_id": G2, "members": [DAVE]}),
    h.item(f"groups.{G1}.updated", {"_id": G1, "members": [ALICE, ERIN, CAROL]}),  # Bob leaves
    h.item(f"groups.{G1}.updated", {"_id": G1, "members": [ALICE, ERIN]}),         # Carol leaves
    trainer(R1, T_ALICE, ALICE),
    trainer(R1, T_BOB, BOB),
    trainer(R1, T_CAROL1, CAROL),
    trainer(R1, T_CAROL2, CAROL),
    trainer(R2, T_DAVE, DAVE),
    trainer(R1, T_NPC, FRANK, npc=True),
    h.item(f"regions.{R1}.encounters.{E1}.created", {"_id": E1, "isWild": False}),
    h.item(f"regions.{R1}.trainers.{T_CAROL1}.deleted", {"_id": T_CAROL1, "user": CAROL}),
    h.item(f"regions.{R1}.trainers.{T_BOB}.deleted", {"_id": T_BOB, "user": BOB}),
]

R1_MEMBERS = {ALICE, CAROL}  # Carol keeps T_CAROL2; Bob's only trainer is gone

# (publish item, users that must receive it) after the restart.
AFTER_RESTART = [
    (h.item(f"groups.{G1}.messages.m1.created", {"body": "still here?"}), {ALICE, ERIN}),
    (h.item(f"groups.{G2}.messages.m2.created", {"body": "solo"}), {DAVE}),
    (h.item(f"regions.{R1}.trainers.{T_ALICE}.updated", {"x": 3, "y": 4}), R1_MEMBERS),
    (h.item(f"regions.{R2}.trainers.{T_DAVE}.updated", {"x": 5}), {DAVE}),
    (h.item(f"trainers.{T_ALICE}.monsters.mon1.created", {"type": 3}), R1_MEMBERS),
    (h.item(f"trainers.{T_CAROL2}.items.item1.updated", {"amount": 2}), R1_MEMBERS),
    (h.item(f"trainers.{T_NPC}.monsters.mon2.updated", {"type": 1}), R1_MEMBERS | {FRANK}),
    (h.item(f"trainers.{T_DAVE}.monsters.mon3.created", {"type": 2}), {DAVE}),
    # Bob's trainer is a tombstone (default grace 5 min), stored on disk:
    # its cascade still reaches the region and its owner.
    (h.item(f"trainers.{T_BOB}.monsters.mon4.deleted", {"type": 2}), R1_MEMBERS | {BOB}),
    (h.item(f"encounters.{E1}.opponents.o1.created", {"isAttacker": True}), R1_MEMBERS),
    (h.item(f"encounters.{E1}.trainers.{T_ALICE}.opponents.o1.updated", {"move": None}),
     R1_MEMBERS),
    (h.item(f"regions.{R1}.messages.rm1.created", {"body": "hello all"}), set(EVERYBODY)),
    (h.item(f"groups.{G1}.deleted", {"_id": G1}), {ALICE, ERIN}),
]


async def build_memberships(server):
    async with h.Publisher(server) as publisher:
        for it in MEMBERSHIPS:
            await publisher.publish(it)


async def check_audiences(server, cases):
    clients = [h.Client(server, u) for u in EVERYBODY]
    await h.connect_all(clients)
    try:
        for c in clients:
            await c.subscribe(">")
        await asyncio.gather(*(c.barrier() for c in clients))
        async with h.Publisher(server) as publisher:
            for it, _ in cases:
                await publisher.publish(it)
            await h.finish(publisher, clients)
        for c in clients:
            expected = [(it["event"], it.get("data", h.MISSING)) for it, users in cases
                        if c.user in users]
            h.compare(c.label, expected, h.strip_sentinels(c), "after SIGKILL and restart: ")
    finally:
        await h.close_all(clients)


def test_memberships_survive_sigkill(vis_servers):
    server = vis_servers("persist")
    server.start()
    asyncio.run(build_memberships(server))
    server.kill()
    assert server.proc.returncode == -9

    server.start()  # same data directory, new process, new port
    asyncio.run(check_audiences(server, AFTER_RESTART))


def test_corrupt_database_is_a_clear_startup_error(vis_servers):
    server = vis_servers("corrupt")
    server.start()
    asyncio.run(build_memberships(server))
    server.stop()

    db = os.path.join(server.data_dir, "membership.db")
    assert os.path.getsize(db) > 0
    with open(db, "r+b") as f:
        f.write(b"this is not a SQLite database at all \x00\xff" * 200)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)

    proc = server.spawn()
    code = proc.wait(timeout=20)
    out, err = server.output()
    assert code != 0, f"started on a corrupt database\nstdout:\n{out}\nstderr:\n{err}"
    assert f"{db}: file is not a database" in out + err, f"stdout:\n{out}\nstderr:\n{err}"
    # The database is not replaced by an empty one.
    with open(db, "rb") as f:
        assert f.read(16) == b"this is not a SQ"


def test_unreadable_database_path_is_a_clear_startup_error(vis_servers):
    server = vis_servers("unreadable")
    os.makedirs(os.path.join(server.data_dir, "membership.db"))  # a directory, not a file
    proc = server.spawn()
    code = proc.wait(timeout=20)
    out, err = server.output()
    assert code != 0, f"started without a usable database\nstdout:\n{out}\nstderr:\n{err}"
    assert "membership.db" in out + err and "cannot start" in out + err, \
        f"stdout:\n{out}\nstderr:\n{err}"


def test_startup_error_is_written_to_stderr(vis_servers):
    server = vis_servers("stderr")
    os.makedirs(server.data_dir)
    with open(os.path.join(server.data_dir, "membership.db"), "wb") as f:
        f.write(b"garbage, not SQLite" * 100)
    proc = server.spawn()
    code = proc.wait(timeout=20)
    out, err = server.output()
    assert code != 0
    assert "membership.db" in err, f"stderr:\n{err}\nstdout:\n{out}"


def test_generated_stream_agrees_across_sigkill(vis_servers):
    """The differential run split by a SIGKILL: the first half of a seeded
    stream builds memberships (groups, owners, NPC flags, encounters,
    tombstones) in one process; after SIGKILL a new process on the same data
    directory must give the second half exactly the reference model's
    audiences, which still depend on the first half."""
    import test_differential as diff  # module import: its tests are not re-collected

    seed = diff.SEEDS[0] + 100
    users, events = diff.stream(seed, 4000)
    first, second = events[:2000], events[2000:]
    server = vis_servers("persist-diff", *diff.SERVER_FLAGS).start()

    async def publish_first_half():
        async with h.Publisher(server) as publisher:
            items = diff.publish_items(first)
            for i in range(0, len(items), diff.BATCH):
                await publisher.publish(items[i:i + diff.BATCH])

    asyncio.run(publish_first_half())
    server.kill()
    server.start()
    asyncio.run(diff.run(server, seed, users, second))
    diff.check_drop_metrics(server, second, seed)


TOMBSTONE_GRACE_MS = 5000


def test_tombstones_survive_sigkill_until_their_grace_ends(vis_servers):
    """A trainer deleted just before a SIGKILL is still a tombstone after the
    restart: its cascade reaches the region and its owner within the grace
    (counted from the deletion, not from the restart), and is dropped after."""
    server = vis_servers("persist-grace", "--tombstone-grace-ms", str(TOMBSTONE_GRACE_MS))
    server.start()

    async def delete_trainer():
        async with h.Publisher(server) as publisher:
            await publisher.publish([trainer(R1, T_ALICE, ALICE), trainer(R1, T_BOB, BOB),
                                     h.item(f"regions.{R1}.trainers.{T_BOB}.deleted", {})])
        return time.monotonic()  # the server stamped the deletion before this

    deleted_at = asyncio.run(delete_trainer())
    server.kill()
    server.start()

    within = h.item(f"trainers.{T_BOB}.monsters.mon1.deleted", {"n": 1})
    after = h.item(f"trainers.{T_BOB}.monsters.mon2.deleted", {"n": 2})

    async def cascades():
        clients = [h.Client(server, u) for u in (ALICE, BOB, MALLORY)]
        await h.connect_all(clients)
        try:
            for c in clients:
                await c.subscribe(">")
            await asyncio.gather(*(c.barrier() for c in clients))
            async with h.Publisher(server) as publisher:
                if time.monotonic() - deleted_at > TOMBSTONE_GRACE_MS / 1000 * 0.8:
                    pytest.skip("restart took most of the grace period: machine too slow")
                await publisher.publish(within)
                # The only sleep that asserts timing: waiting past the grace.
                await asyncio.sleep(deleted_at + TOMBSTONE_GRACE_MS / 1000 + 0.7 -
                                    time.monotonic())
                await publisher.publish(after)
                await h.finish(publisher, clients)
            return {c.user: [e[0] for e in h.strip_sentinels(c)] for c in clients}
        finally:
            await h.close_all(clients)

    got = asyncio.run(cascades())
    assert got == {ALICE: [within["event"]], BOB: [within["event"]], MALLORY: []}, got
    assert server.metric("herald_drops_total", 'reason="unknown_trainer"') == 1


def test_membership_write_that_fails_is_retried_and_never_lost(vis_servers):
    """Bob leaves G1 while another connection (an operator's sqlite3 shell)
    holds the database's write lock. The server says so (metrics, an error
    log), saves the change once the lock is gone, and after a SIGKILL and
    restart Bob still does not get G1's messages."""
    server = vis_servers("write-fails").start()

    async def publish(items):
        async with h.Publisher(server) as publisher:
            await publisher.publish(items)

    asyncio.run(publish([h.item(f"groups.{G1}.created", {"members": [ALICE, BOB]})]))
    db = sqlite3.connect(os.path.join(server.data_dir, "membership.db"), timeout=5)
    db.execute("BEGIN IMMEDIATE")
    try:
        asyncio.run(publish([h.item(f"groups.{G1}.updated", {"members": [ALICE]})]))
        assert server.metric("herald_membership_unsaved") == 1
        assert server.metric("herald_membership_write_errors_total") >= 1
    finally:
        db.rollback()
        db.close()

    deadline = time.monotonic() + 10  # retried every second
    while server.metric("herald_membership_unsaved") != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.metric("herald_membership_unsaved") == 0
    _, err = server.output()
    assert "membership database write failed" in err and "recovered" in err, err

    server.kill()
    server.start()
    asyncio.run(check_audiences(
        server, [(h.item(f"groups.{G1}.messages.m1.created", {"body": "hi"}), {ALICE})]))
