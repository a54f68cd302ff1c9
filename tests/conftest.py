"""Fixtures for Herald's end-to-end tests.

Every test starts the real `herald serve` binary (HERALD_BIN) on a port of
its own, with its own data directory, and talks to it over loopback the way
a client or a publisher would. Tests may be plain functions or coroutines;
coroutines run under asyncio.run with an overall time limit.
"""

import asyncio
import base64
import hashlib
import hmac
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

import aiohttp
import jwt
import pytest
import websockets

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_TIMEOUT_S = 60  # hard limit for one async test body
RECV_TIMEOUT_S = 5  # generous bound for one frame to arrive on loopback
START_TIMEOUT_S = 15


def herald_bin():
    path = os.environ.get("HERALD_BIN")
    if path:
        return path
    for candidate in ("build/src/cli/herald", "../build/src/cli/herald"):
        full = os.path.join(REPO, candidate)
        if os.access(full, os.X_OK):
            return full
    pytest.exit("set HERALD_BIN to the herald binary (ctest does this)", returncode=2)


# ---------------------------------------------------------------------------
# Async tests without pytest-asyncio (Debian 12 does not ship it).


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(_run_test(pyfuncitem.obj(**args)))
    return True


async def _run_test(body):
    try:
        await asyncio.wait_for(body, TEST_TIMEOUT_S)
    finally:
        # Drop the clients a test left open, so that no closing handshake
        # with a server that may be gone holds up the next test.
        clients, _OPEN_CLIENTS[:] = list(_OPEN_CLIENTS), []
        for ws in clients:
            if ws.transport is not None:
                ws.transport.abort()
        if clients:
            await asyncio.wait([asyncio.ensure_future(ws.wait_closed()) for ws in clients], timeout=5)


_OPEN_CLIENTS = []


# ---------------------------------------------------------------------------
# Ports.


def reserve_port():
    """Binds 127.0.0.1:0 with SO_REUSEPORT and keeps the socket.

    Herald binds with SO_REUSEPORT too, so it can share the port with this
    socket (which never listens, so it never takes connections), while
    every other bind(0) on the machine stays away from the port until the
    reservation is closed.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


# ---------------------------------------------------------------------------
# The server under test.


class Herald:
    """One running `herald serve` process."""

    def __init__(self, tmp_path, args=(), env=None, cwd=None, bare=False, threads=2):
        """Starts herald serve with args and waits for /readyz.

        Unless bare, the test's own --host, --threads and --data-dir come
        first; bare passes only the port (as PORT, the original server's
        variable) and uses cwd's ./herald-data as every default does.
        """
        self.reservation = reserve_port()
        self.port = self.reservation.getsockname()[1]
        self.dir = tmp_path
        self.data_dir = os.path.join(cwd or tmp_path, "herald-data") if bare else str(tmp_path / "data")
        self.log_path = str(tmp_path / f"herald-{self.port}.log")
        self.args = list(args)
        self.issuer = self._flag("--auth-issuer")
        self.audience = self._flag("--auth-audience")
        full_env = {k: v for k, v in os.environ.items() if not _is_config_env(k)}
        command = [herald_bin(), "serve"]
        if bare:
            full_env["PORT"] = str(self.port)
        else:
            command += ["--port", str(self.port), "--host", "127.0.0.1"]
            command += ["--data-dir", self.data_dir]
            if "--threads" not in self.args:
                command += ["--threads", str(threads)]
        command += self.args
        full_env.update(env or {})
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            command, stdout=self.log, stderr=subprocess.STDOUT, env=full_env, cwd=cwd
        )
        self.wait_ready()

    def _flag(self, name):
        if name in self.args:
            return self.args[self.args.index(name) + 1]
        return None

    # -- lifecycle ---------------------------------------------------------

    def wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"herald exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if self.http_get("/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"herald not ready after {START_TIMEOUT_S}s:\n{self.logs()}")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Signals the server and returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        self.reservation.close()
        self.log.close()
        return self.proc.returncode

    def logs(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    # -- secrets and tokens ------------------------------------------------

    @property
    def secret(self):
        if "--auth-secret" in self.args:
            return self._flag("--auth-secret")
        with open(os.path.join(self.data_dir, "auth-secret")) as f:
            return f.read().strip()

    @property
    def publish_key(self):
        if "--publish-key" in self.args:
            return self._flag("--publish-key")
        with open(os.path.join(self.data_dir, "publish-key")) as f:
            return f.read().strip()

    def claims(self, sub="alice", ttl_s=3600, **extra):
        now = int(time.time())
        claims = {"sub": sub, "iat": now, "exp": now + ttl_s}
        if self.issuer:
            claims["iss"] = self.issuer
        if self.audience:
            claims["aud"] = self.audience
        claims.update(extra)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, sub="alice", ttl_s=3600, key=None, algorithm="HS256", **extra):
        """A token the server accepts unless the arguments say otherwise."""
        return jwt.encode(
            self.claims(sub, ttl_s, **extra),
            self.secret if key is None else key,
            algorithm=algorithm,
        )

    # -- HTTP --------------------------------------------------------------

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path=None, query=""):
        path = path or "/ws/v4/events"
        return f"ws://127.0.0.1:{self.port}{path}" + (f"?{query}" if query else "")

    def http_get(self, path):
        try:
            with urllib.request.urlopen(self.base_url + path, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def publish_sync(self, body, key=None):
        """POSTs body (an object, a list or raw str/bytes) to /publish."""
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        data = data.encode() if isinstance(data, str) else data
        request = urllib.request.Request(
            self.base_url + "/publish",
            data=data,
            method="POST",
            headers={"Authorization": f"Bearer {self.publish_key if key is None else key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    async def publish(self, body, key=None, headers=None, expect=202):
        """POSTs body to /publish from async code; checks the status."""
        data = body if isinstance(body, (str, bytes)) else json.dumps(body)
        all_headers = {"Content-Type": "application/json"}
        if key is not False:
            all_headers["Authorization"] = f"Bearer {self.publish_key if key is None else key}"
        all_headers.update(headers or {})
        async with aiohttp.ClientSession() as session:
            async with session.post(
                self.base_url + "/publish", data=data, headers=all_headers
            ) as r:
                text = await r.text()
                if expect is not None:
                    assert r.status == expect, text
                return r.status, json.loads(text) if text else None

    async def event(self, name, data=..., users=None):
        """Publishes one event; data=... leaves the field out."""
        body = {"event": name}
        if data is not ...:
            body["data"] = data
        if users is not None:
            body["users"] = users
        return await self.publish(body)

    # -- metrics -----------------------------------------------------------

    def metrics(self):
        """Parses /metrics into {(name, frozenset(labels)): value}."""
        status, text = self.http_get("/metrics")
        assert status == 200
        samples = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^(\w+)(?:\{(.*)\})?\s+(\S+)$", line)
            assert m, f"bad metrics line: {line!r}"
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            samples[(m.group(1), labels)] = float(m.group(3))
        return samples

    def metric(self, name, **labels):
        return self.metrics().get((name, frozenset(labels.items())), 0.0)

    async def wait_metric(self, name, predicate, timeout=10, **labels):
        """Polls a metric until predicate(value) holds; returns the value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.metric(name, **labels)
            if predicate(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}{labels} stuck at {value}")
            await asyncio.sleep(0.02)


CONFIG_ENV = {"PORT", "API_VERSION", "AUTH_SECRET", "AUTH_ALGORITHMS", "AUTH_ISSUER", "NATS_URL"}


def _is_config_env(name):
    return name.startswith("HERALD_") or name in CONFIG_ENV


@pytest.fixture
def start_herald(tmp_path):
    """Factory: start_herald(*flags, env=..., cwd=..., data_dir=True)."""
    servers = []

    def start(*args, **kwargs):
        sub = tmp_path / f"s{len(servers)}"
        sub.mkdir()
        server = Herald(sub, args, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait()
        server.reservation.close()
        if not server.log.closed:
            server.log.close()


@pytest.fixture
def herald(start_herald):
    """A server on defaults, except that every event name is delivered."""
    return start_herald("--deliver-uncovered", "true")


# ---------------------------------------------------------------------------
# WebSocket client helpers.


async def connect(server, sub="alice", token=None, path=None, query="", headers=None, **kw):
    """Opens a client with a valid token in the Authorization header.

    Pass token="" and no headers to connect without one.
    """
    if token is None:
        token = server.token(sub)
    all_headers = {}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    kw.setdefault("ping_interval", None)  # the client stays silent unless told
    kw.setdefault("max_size", 64 << 20)
    kw.setdefault("close_timeout", 5)
    ws = await websockets.connect(
        server.ws_url(path, query), extra_headers=all_headers, open_timeout=10, **kw
    )
    _OPEN_CLIENTS.append(ws)
    return ws


async def send(ws, obj):
    await ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))


async def recv_raw(ws, timeout=RECV_TIMEOUT_S):
    return await asyncio.wait_for(ws.recv(), timeout)


async def recv(ws, timeout=RECV_TIMEOUT_S):
    return json.loads(await recv_raw(ws, timeout))


async def barrier(ws):
    """Sends ping and waits for pong; returns what arrived before it.

    Once pong arrives every earlier command of this connection is in force
    (DESIGN.md section 1).
    """
    await send(ws, {"event": "ping"})
    before = []
    while True:
        message = await recv(ws)
        if message == {"event": "pong"}:
            return before
        before.append(message)


async def subscribe(ws, *patterns):
    for pattern in patterns:
        await send(ws, {"event": "subscribe", "data": pattern})
    assert await barrier(ws) == []


async def unsubscribe(ws, *patterns):
    for pattern in patterns:
        await send(ws, {"event": "unsubscribe", "data": pattern})
    assert await barrier(ws) == []


async def receive_until(ws, event_name, timeout=RECV_TIMEOUT_S):
    """Returns every message up to and including the first named event_name."""
    seen = []
    while True:
        message = await recv(ws, timeout)
        seen.append(message)
        if message.get("event") == event_name:
            return seen


async def expect_close(ws, timeout=10):
    """Waits for the server to close; returns (frames before, code, reason)."""
    frames = []

    async def drain():
        try:
            while True:
                frames.append(await ws.recv())
        except websockets.ConnectionClosed:
            pass

    await asyncio.wait_for(drain(), timeout)
    await asyncio.wait_for(ws.wait_closed(), timeout)
    return [json.loads(f) for f in frames], ws.close_code, ws.close_reason


def error_event(status, message):
    phrases = {400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}
    return {
        "event": "error",
        "data": {"statusCode": status, "error": phrases[status], "message": message},
    }


# ---------------------------------------------------------------------------
# A hand-made WebSocket client, for peers that misbehave on purpose (stop
# reading, never answer pings, send invalid UTF-8).


class RawClient:
    def __init__(self, server, token=None, path="/ws/v4/events", rcvbuf=None, sub="raw", extra=b""):
        """Connects and upgrades; extra bytes go in the same write as the request."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(RECV_TIMEOUT_S)
        self.sock.connect(("127.0.0.1", server.port))
        self.buffer = b""
        token = server.token(sub) if token is None else token
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{server.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if token:
            lines.append(f"Authorization: Bearer {token}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + extra)
        head = self._read_until(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        if self.status == 101:
            accept = base64.b64encode(
                hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
            ).decode()
            assert f"sec-websocket-accept: {accept}".lower().encode() in head.lower()

    def _read_until(self, marker):
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during handshake")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(marker, 1)
        return head

    def _read_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError("connection closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    @staticmethod
    def frame(opcode, payload, fin=True, length=None):
        """A masked client frame; length overrides the declared length."""
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    def send_frame(self, opcode, payload, **kw):
        self.sock.sendall(self.frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(0x1, text.encode() if isinstance(text, str) else text)

    def recv_frame(self):
        """Returns (opcode, payload) of the next server frame."""
        b0, b1 = self._read_exact(2)
        assert not b1 & 0x80, "server frames are not masked"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._read_exact(2), "big")
        elif n == 127:
            n = int.from_bytes(self._read_exact(8), "big")
        return b0 & 0x0F, self._read_exact(n)

    def recv_json(self):
        opcode, payload = self.recv_frame()
        assert opcode == 0x1, (opcode, payload)
        return json.loads(payload)

    def barrier(self):
        self.send_text('{"event":"ping"}')
        before = []
        while True:
            message = self.recv_json()
            if message == {"event": "pong"}:
                return before
            before.append(message)

    def read_until_close(self):
        """Reads frames until a close frame; returns (data frames, close code)."""
        frames = []
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 0x8:
                return frames, int.from_bytes(payload[:2], "big")
            frames.append((opcode, payload))

    def at_eof(self, timeout):
        """True if the server ends the TCP connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def raw_http(server, request_head):
    """Sends a raw HTTP request; returns (status, whole response text)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=RECV_TIMEOUT_S) as s:
        s.sendall(request_head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return int(data.split(b" ", 2)[1]), data.decode(errors="replace")


def upgrade_request(server, path, token=None):
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed_hs256(claims, key_bytes, header=None):
    """An HS256 token signed with any key bytes (PyJWT refuses PEM keys as
    HMAC secrets); claims may be raw payload bytes."""
    header = header or {"alg": "HS256", "typ": "JWT"}
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(payload)
    signature = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)
