"""A Node.js client using the `ws` package, as browser-side tooling would.

Skipped when node or the npm registry is not available."""

import asyncio
import json
import shutil
import subprocess

import pytest

CLIENT_JS = r"""
const WebSocket = require('ws');
const ws = new WebSocket(process.argv[2]);
ws.on('open', () => {
  ws.send(JSON.stringify({event: 'subscribe', data: 'users.*.*'}));
  ws.send(JSON.stringify({event: 'ping'}));
});
ws.on('message', (data) => {
  const message = JSON.parse(data.toString());
  if (message.event === 'pong') { console.log('ready'); return; }
  console.log(JSON.stringify(message));
  ws.close();
});
ws.on('close', (code) => { console.log('closed ' + code); process.exit(0); });
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
"""


@pytest.fixture(scope="module")
def node_ws(tmp_path_factory):
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are not installed")
    directory = tmp_path_factory.mktemp("node")
    try:
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "ws@8"],
            cwd=directory, capture_output=True, text=True, timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("npm install ws timed out")
    if result.returncode != 0:
        pytest.skip(f"npm install ws failed: {result.stderr.strip()[:200]}")
    (directory / "client.js").write_text(CLIENT_JS)
    return directory


async def test_node_ws_client_subscribes_and_receives(node_ws, start_herald):
    server = start_herald()
    url = server.ws_url(query="authToken=" + server.token("node-user"))
    proc = await asyncio.create_subprocess_exec(
        "node", str(node_ws / "client.js"), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=node_ws,
    )
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.decode().strip() == "ready"
        await server.event("users.507f191e810c19729de860ea.created", {"name": "Alice"})
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert json.loads(line) == {
            "event": "users.507f191e810c19729de860ea.created",
            "data": {"name": "Alice"},
        }
        line = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert line.decode().strip() == "closed 1005"  # client closed without a code
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_node_ws_client_sees_4401_for_a_bad_token(node_ws, start_herald):
    server = start_herald()
    url = server.ws_url(query="authToken=not-a-token")
    proc = await asyncio.create_subprocess_exec(
        "node", str(node_ws / "client.js"), url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=node_ws,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    lines = out.decode().split("\n")
    assert json.loads(lines[0])["data"]["statusCode"] == 401
    assert "closed 4401" in lines

