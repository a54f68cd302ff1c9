"""The README walk-through: zero-config `herald serve`, then `herald token`,
`herald subscribe` and `herald publish` (DESIGN.md section 5)."""

import json
import os
import queue
import socket
import stat
import subprocess
import threading
import time

import jwt

from conftest import barrier, connect, herald_bin, recv

ALICE_EVENT = "users.507f191e810c19729de860ea.created"


def run_cli(server, *args, timeout=15):
    """Runs a herald subcommand against server; returns the CompletedProcess."""
    command = [herald_bin(), *args, "--port", str(server.port), "--data-dir", server.data_dir]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=clean_env())


def clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}


class LineReader:
    """Reads a child's stdout lines on a thread so that waits can be bounded."""

    def __init__(self, proc):
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True)
        self.thread.start()

    def _pump(self, stream):
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def next(self, timeout=10):
        return self.lines.get(timeout=timeout)


def test_token_verifies_with_the_data_dir_secret(start_herald):
    server = start_herald()
    result = run_cli(server, "token", "--sub", "507f191e810c19729de860ea", "--ttl", "15m")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    claims = jwt.decode(token, server.secret, algorithms=["HS256"])
    assert claims["sub"] == "507f191e810c19729de860ea"
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


async def test_minted_token_is_accepted_by_the_server(start_herald):
    server = start_herald()
    token = run_cli(server, "token", "--sub", "alice").stdout.strip()
    ws = await connect(server, token=token)
    assert await barrier(ws) == []


def test_token_carries_configured_issuer_and_audience(start_herald):
    server = start_herald("--auth-issuer", "iss-x", "--auth-audience", "aud-y")
    result = run_cli(server, "token", "--sub", "alice", "--auth-issuer", "iss-x", "--auth-audience", "aud-y")
    claims = jwt.decode(result.stdout.strip(), server.secret, algorithms=["HS256"], audience="aud-y")
    assert claims["iss"] == "iss-x"


def test_token_without_a_data_dir_explains_what_to_do(tmp_path):
    command = [herald_bin(), "token", "--sub", "alice", "--data-dir", str(tmp_path / "none")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=15, env=clean_env())
    assert result.returncode != 0
    assert "herald serve" in result.stderr
    assert not result.stdout


def test_subscribe_prints_what_publish_publishes(start_herald):
    server = start_herald()
    command = [herald_bin(), "subscribe", "users.*.*", "--sub", "507f191e810c19729de860ea",
               "--port", str(server.port), "--data-dir", server.data_dir]
    subscriber = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=clean_env())
    try:
        reader = LineReader(subscriber)
        # The CLI sends no ping, so wait for the server to hold the pattern.
        deadline = time.monotonic() + 10
        while server.metric("herald_subscriptions") < 1:
            assert time.monotonic() < deadline, subscriber.stderr.read()
            time.sleep(0.02)
        published = run_cli(server, "publish", ALICE_EVENT, '{"name":"Alice"}')
        assert published.returncode == 0, published.stderr
        assert json.loads(published.stdout) == {"accepted": 1}
        assert reader.next() == '{"event":"' + ALICE_EVENT + '","data":{"name":"Alice"}}'

        # --users limits the audience: bob's event is not printed, ours is.
        assert run_cli(server, "publish", "users.x.updated", "1", "--users", "bob").returncode == 0
        assert run_cli(server, "publish", "users.y.updated", "2",
                       "--users", "bob,507f191e810c19729de860ea").returncode == 0
        assert reader.next() == '{"event":"users.y.updated","data":2}'
    finally:
        subscriber.terminate()
        subscriber.wait(10)


def test_publish_without_data_and_with_bad_input(start_herald):
    server = start_herald()
    ok = run_cli(server, "publish", "users.u1.deleted")
    assert (ok.returncode, json.loads(ok.stdout)) == (0, {"accepted": 1})
    bad = run_cli(server, "publish", "users..deleted", "{}")
    assert bad.returncode != 0
    assert json.loads(bad.stdout)["statusCode"] == 400


def test_publish_to_a_server_that_is_not_there_fails(start_herald):
    server = start_herald()
    assert server.stop() == 0
    result = run_cli(server, "publish", "users.u1.deleted", "{}")
    assert result.returncode != 0
    assert "cannot reach" in result.stderr


async def test_zero_config_serve_creates_the_data_dir_and_works(start_herald, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    server = start_herald(cwd=str(empty), bare=True)
    data = empty / "herald-data"
    for name in ("auth-secret", "publish-key"):
        path = data / name
        assert path.read_text().strip(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Tells a new user what to do next, with the binary as it was invoked.
    assert f"{herald_bin()} token --sub" in server.logs()
    assert server.secret != server.publish_key

    ws = await connect(server, "alice")
    await ws.send('{"event":"subscribe","data":"users.*.*"}')
    assert await barrier(ws) == []
    await server.event(ALICE_EVENT, {"name": "Alice"})
    assert await recv(ws) == {"event": ALICE_EVENT, "data": {"name": "Alice"}}


def test_zero_config_secrets_are_created_once(start_herald, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    first = start_herald(cwd=str(empty), bare=True)
    secret, key = first.secret, first.publish_key
    assert first.stop() == 0
    second = start_herald(cwd=str(empty), bare=True)
    assert (second.secret, second.publish_key) == (secret, key)
    assert second.publish_sync({"event": "users.u1.created"}, key=key)[0] == 202


def test_data_dir_from_environment(start_herald, tmp_path):
    server = start_herald(cwd=str(tmp_path), bare=True, env={"HERALD_DATA_DIR": str(tmp_path / "elsewhere")})
    assert (tmp_path / "elsewhere" / "auth-secret").exists()
    assert not (tmp_path / "herald-data").exists()
    assert server.http_get("/readyz")[0] == 200


def test_invalid_flag_value_is_refused_at_start(tmp_path):
    command = [herald_bin(), "serve", "--max-frame-bytes", "1", "--data-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=15, env=clean_env())
    assert result.returncode == 2
    assert "max_frame_bytes" in result.stderr


def test_serve_refuses_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [herald_bin(), "serve", "--host", "127.0.0.1", "--port", str(port),
                   "--data-dir", str(tmp_path)]
        result = subprocess.run(command, capture_output=True, text=True, timeout=15, env=clean_env())
    assert result.returncode == 1
    assert "cannot" in (result.stdout + result.stderr)



def test_subscribe_exits_zero_when_the_server_shuts_down(start_herald):
    server = start_herald()
    command = [herald_bin(), "subscribe", "users.*.*", "--port", str(server.port),
               "--data-dir", server.data_dir]
    subscriber = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=clean_env())
    deadline = time.monotonic() + 10
    while server.metric("herald_subscriptions") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert server.stop() == 0
    _, err = subscriber.communicate(timeout=10)
    assert subscriber.returncode == 0, err
    assert "1001" in err


def test_subscribe_exits_non_zero_when_refused(start_herald):
    server = start_herald("--auth-secret", "not-the-one-the-cli-reads")
    command = [herald_bin(), "subscribe", "users.*.*", "--port", str(server.port),
               "--data-dir", server.data_dir, "--auth-secret", "a-different-secret"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=15, env=clean_env())
    assert result.returncode != 0
    assert "4401" in result.stderr
