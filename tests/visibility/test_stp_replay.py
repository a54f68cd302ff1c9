"""Replays tests/testdata/stp-session.jsonl through the real server: every
line's audience (DESIGN.md section 2) must be reproduced exactly, per user,
in order, over WebSockets."""

import asyncio
import json
import os

import herald_harness as h

OUTSIDER = "ffffffffffffffffffffffff"  # in no group and no region
SPECIFIC_PATTERNS = (
    "groups.*.messages.*.*",
    "trainers.*.monsters.*.*",
    "regions.*.trainers.*.*",
    "encounters.>",
    "users.*.achievements.*.*",
)


def load_session():
    with open(os.path.join(h.TESTDATA, "stp-session.jsonl")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    header, events = lines[0], lines[1:]
    assert "users" in header and events
    return header["users"], events


def expected_for(user, patterns, events):
    out = []
    for e in events:
        audience = e["audience"]
        if audience != "everyone" and user not in audience:
            continue
        if any(h.matches(p, e["event"]) for p in patterns):
            out.append((e["event"], e["data"] if "data" in e else h.MISSING))
    return out


def publish_item(e):
    data = e["data"] if "data" in e else h.MISSING
    return h.item(e["event"], h.JSON_NULL if data is None else data, e.get("users"))


async def replay(server):
    users, events = load_session()
    ids = dict(users, Mallory=OUTSIDER)
    everything = [h.Client(server, uid, f"{name}/all") for name, uid in ids.items()]
    specific = [h.Client(server, uid, f"{name}/specific") for name, uid in ids.items()]
    clients = everything + specific
    await h.connect_all(clients)
    try:
        # `>` alone is a valid pattern; the sentinel pattern overlaps it, so
        # the sentinel arriving once also checks per-connection dedup.
        for c in everything:
            await c.subscribe(">", h.SENTINEL_PATTERN)
        for c in specific:
            await c.subscribe(*SPECIFIC_PATTERNS, f"users.{c.user}.updated", h.SENTINEL_PATTERN)
        await asyncio.gather(*(c.barrier() for c in clients))

        async with h.Publisher(server) as publisher:
            for e in events:  # one request per line: the session's own pacing
                await publisher.publish(publish_item(e))
            await h.finish(publisher, clients)

        for c in clients:
            got = h.strip_sentinels(c)
            patterns = [p for p in c.patterns if p != h.SENTINEL_PATTERN]
            h.compare(c.label, expected_for(c.user, patterns, events), got, "stp-session: ")
        return events
    finally:
        await h.close_all(clients)


def test_stp_session_audiences_are_reproduced_exactly(vis_servers):
    server = vis_servers("stp").start()
    events = asyncio.run(replay(server))

    dropped = sum(1 for e in events if e["audience"] == [])
    assert dropped >= 1, "the session is expected to hold an uncovered event"
    assert server.metric("herald_drops_total", 'reason="uncovered_name"') == dropped


def test_session_line_audiences_are_consistent_with_the_users_map():
    """Guards the test itself: every audience names only the session's users."""
    users, events = load_session()
    known = set(users.values())
    for e in events:
        if e["audience"] != "everyone":
            assert set(e["audience"]) <= known, e["event"]
