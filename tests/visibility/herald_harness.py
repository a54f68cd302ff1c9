"""A small harness for end-to-end visibility tests against the real binary.

Starts `herald serve` on a free loopback port with its own data directory,
secret and publisher key; mints HS256 tokens; publishes over HTTP; runs
WebSocket clients that record every event they receive.

Barriers, not sleeps: `Client.barrier()` sends `ping` and waits for `pong`
(every earlier command of that connection is then in force, DESIGN.md
section 1). Delivery completion is proven by a sentinel event published last
with a publisher `users` list: events of one publisher arrive in publish
order, so once a connection holds its sentinel it holds everything before it.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import aiohttp
import jwt
import websockets

HERALD_BIN = os.environ.get("HERALD_BIN", "/work/main/build/src/cli/herald")
STP_STREAM = os.environ.get("HERALD_STP_STREAM", "/work/main/build/src/membership/stp_stream")
TESTDATA = os.environ.get("HERALD_TESTDATA", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "testdata"))

SECRET = "visibility-test-secret-0123456789abcdef"
PUBLISH_KEY = "visibility-test-publish-key"

# Generous bounds: they only matter when something is broken.
READY_TIMEOUT_S = 20.0
EVENT_TIMEOUT_S = 30.0

# Variables the server reads as configuration: a test's server must see only
# its own flags.
_CONFIG_ENV = ("PORT", "API_VERSION", "AUTH_SECRET", "AUTH_ALGORITHMS", "AUTH_ISSUER",
               "AUTH_AUDIENCE", "NATS_URL")


def reserve_port():
    """A bound, never-listening socket on a free loopback port, with
    SO_REUSEPORT. Herald's listeners set SO_REUSEPORT as well, so they can
    bind the port beside it, while no other bind(0) on the machine (a test
    running in parallel) is given the port while the socket is open."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


def mint(user, secret=SECRET, ttl_s=3600):
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + ttl_s}, secret, algorithm="HS256")


def matches(pattern, name):
    """DESIGN.md section 1: `*` is one segment; a last `>` is one or more."""
    p = pattern.split(".")
    n = name.split(".")
    for i, segment in enumerate(p):
        if segment == ">" and i == len(p) - 1:
            return len(n) > i
        if i >= len(n) or (segment != "*" and segment != n[i]):
            return False
    return len(n) == len(p)


class Server:
    """One `herald serve` process. Logs go to files in `data_dir`'s parent."""

    def __init__(self, data_dir, *extra_args, threads=2):
        self.data_dir = str(data_dir)
        self.extra_args = [str(a) for a in extra_args]
        self.threads = threads
        self.proc = None
        self.port = None
        self._reservation = None
        self.starts = 0

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws/v4/events"

    def command(self):
        return [HERALD_BIN, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                "--threads", str(self.threads), "--data-dir", self.data_dir,
                "--auth-secret", SECRET, "--publish-key", PUBLISH_KEY,
                *self.extra_args]

    def spawn(self):
        """Starts the process without waiting; returns it."""
        os.makedirs(self.data_dir, exist_ok=True)
        self._release_port()
        self._reservation = reserve_port()
        self.port = self._reservation.getsockname()[1]
        self.starts += 1
        stem = os.path.join(os.path.dirname(self.data_dir.rstrip("/")),
                            f"{os.path.basename(self.data_dir.rstrip('/'))}-{self.starts}")
        self.stdout_path, self.stderr_path = stem + ".stdout", stem + ".stderr"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HERALD_") and k not in _CONFIG_ENV}
        self.proc = subprocess.Popen(self.command(), env=env,
                                     stdout=open(self.stdout_path, "wb"),
                                     stderr=open(self.stderr_path, "wb"))
        return self.proc

    def start(self):
        self.spawn()
        self.wait_ready()
        return self

    def output(self):
        def read(path):
            try:
                with open(path, errors="replace") as f:
                    return f.read()
            except OSError:
                return ""
        return read(self.stdout_path), read(self.stderr_path)

    def wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.output()
                raise AssertionError(f"herald exited with {self.proc.returncode} before ready\n"
                                     f"stdout:\n{out}\nstderr:\n{err}")
            try:
                with urllib.request.urlopen(self.base + "/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise AssertionError("herald not ready after %.0f s" % READY_TIMEOUT_S)

    def _release_port(self):
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None

    def kill(self):
        """SIGKILL: no shutdown path runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._release_port()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._release_port()

    def metrics(self):
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as r:
            return r.read().decode()

    def metric(self, name, labels=""):
        """The value of one sample, 0 when absent (labels as in the text, e.g. reason="x")."""
        key = f"{name}{{{labels}}}" if labels else name
        for line in self.metrics().splitlines():
            if line.startswith(key + " "):
                return float(line.split()[-1])
        return 0.0


def item(event, data=None, users=None):
    """A publish item; data=MISSING (or None) leaves `data` out. To publish a
    JSON null, pass JSON_NULL."""
    out = {"event": event}
    if data is JSON_NULL:
        out["data"] = None
    elif data is not None and data is not MISSING:
        out["data"] = data
    if users is not None:
        out["users"] = users
    return out


class Publisher:
    """Sequential HTTP publishing: one publisher, so events keep their order."""

    def __init__(self, server):
        self.server = server
        self.session = None

    async def __aenter__(self):
        self.session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {PUBLISH_KEY}"},
            timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc):
        await self.session.close()

    async def publish(self, items):
        """Publishes one item (dict) or a batch (list); asserts 202 and the count."""
        body = json.dumps(items, separators=(",", ":"))
        async with self.session.post(self.server.base + "/publish", data=body,
                                     headers={"Content-Type": "application/json"}) as r:
            text = await r.text()
            assert r.status == 202, f"publish answered {r.status}: {text}"
            count = len(items) if isinstance(items, list) else 1
            assert json.loads(text) == {"accepted": count}, text


class Client:
    """One WebSocket connection that records every event it receives."""

    def __init__(self, server, user, label=None):
        self.server = server
        self.user = user
        self.label = label or user
        self.patterns = []
        self.events = []        # (event name, data or MISSING), in arrival order
        self.raw = []           # the frames as text
        self.pongs = 0
        self.errors = []        # error events
        self.closed = None      # close code, once closed
        self._changed = asyncio.Event()
        self._reader = None
        self.ws = None

    async def connect(self):
        self.ws = await websockets.connect(
            self.server.ws_url, extra_headers={"Authorization": f"Bearer {mint(self.user)}"},
            max_size=2 ** 22, max_queue=None, ping_interval=None, open_timeout=20)
        self._reader = asyncio.ensure_future(self._read())
        return self

    async def _read(self):
        try:
            async for message in self.ws:
                if isinstance(message, bytes):
                    message = message.decode()
                frame = json.loads(message)
                name = frame.get("event")
                if name == "pong":
                    self.pongs += 1
                elif name == "error":
                    self.errors.append(frame)
                else:
                    self.raw.append(message)
                    self.events.append((name, frame["data"] if "data" in frame else MISSING))
                self._notify()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = self.ws.close_code
            self._notify()

    def _notify(self):
        self._changed.set()

    async def _wait(self, condition, what, timeout=EVENT_TIMEOUT_S):
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            if self.closed is not None:
                raise AssertionError(f"{self.label}: connection closed ({self.closed}) "
                                     f"while waiting for {what}; errors={self.errors}")
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"{self.label}: timed out waiting for {what}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def send(self, event, data=None):
        frame = {"event": event}
        if data is not None:
            frame["data"] = data
        await self.ws.send(json.dumps(frame))

    async def subscribe(self, *patterns):
        for pattern in patterns:
            self.patterns.append(pattern)
            await self.send("subscribe", pattern)

    async def barrier(self):
        """Returns once every command sent before it is in force."""
        target = self.pongs + 1
        await self.send("ping")
        await self._wait(lambda: self.pongs >= target, "pong")
        assert not self.errors, f"{self.label}: error events {self.errors}"

    async def wait_event(self, name, timeout=EVENT_TIMEOUT_S):
        await self._wait(lambda: any(e[0] == name for e in self.events), name, timeout)

    def names(self):
        return [e[0] for e in self.events]

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=10)


class _Missing:
    def __repr__(self):
        return "<no data>"


MISSING = _Missing()
JSON_NULL = object()


async def connect_all(clients):
    await asyncio.gather(*(c.connect() for c in clients))
    return clients


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


SENTINEL_PATTERN = "sentinel.>"


def sentinel_name(user):
    return f"sentinel.{user}.done"


async def finish(publisher, clients):
    """Publishes one sentinel per user (publisher list = that user) and waits
    until every client holds its own; returns nothing. Clients must hold
    SENTINEL_PATTERN (or a pattern that matches it)."""
    users = sorted({c.user for c in clients})
    await publisher.publish([item(sentinel_name(u), {"end": True}, [u]) for u in users])
    await asyncio.gather(*(c.wait_event(sentinel_name(c.user)) for c in clients))


def strip_sentinels(client):
    """The events before the client's own sentinel; asserts no other
    sentinel arrived and that the own one came last."""
    names = client.names()
    own = sentinel_name(client.user)
    others = [n for n in names if n.startswith("sentinel.") and n != own]
    assert not others, f"{client.label}: received other users' sentinels {others}"
    assert names.count(own) == 1, f"{client.label}: own sentinel {names.count(own)} times"
    index = names.index(own)
    assert index == len(names) - 1, f"{client.label}: events after the sentinel: {names[index+1:]}"
    return client.events[:index]


def compare(label, expected, got, context=""):
    """Exact comparison of (name, data) lists with a readable first difference."""
    if expected == got:
        return
    exp_names = [e[0] for e in expected]
    got_names = [e[0] for e in got]
    leaked = [n for n in got_names if n not in set(exp_names)]
    missing = [n for n in exp_names if n not in set(got_names)]
    first = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
                 min(len(expected), len(got)))
    raise AssertionError(
        f"{context}{label}: expected {len(expected)} events, got {len(got)}; "
        f"first difference at #{first}: expected "
        f"{expected[first] if first < len(expected) else '<end>'}, got "
        f"{got[first] if first < len(got) else '<end>'}\n"
        f"  extra (LEAK if restricted) {len(leaked)}: {leaked[:10]}\n"
        f"  missing {len(missing)}: {missing[:10]}")
