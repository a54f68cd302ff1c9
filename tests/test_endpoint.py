"""Only the exact endpoint path upgrades (DESIGN.md section 1, "Endpoint")."""

import pytest
import websockets

from conftest import barrier, connect, raw_http, upgrade_request

NOT_THE_ENDPOINT = [
    "/ws/v4/events/",
    "//ws/v4/events",
    "/ws//v4/events",
    "/ws/v4//events",
    "/ws/v4/./events",
    "/ws/v4/%2E/events",
    "/ws/v4/events%2F",
    "/ws/v4/event%73",
    "/ws/%76%34/events",
    "/ws/v3/events",
    "/ws/v5/events",
    "/ws/V4/events",
    "/WS/v4/events",
    "/ws/v4/events.json",
    "/ws/v4",
    "/ws/v4/x/../events",
    "/",
]


@pytest.mark.parametrize("path", NOT_THE_ENDPOINT)
def test_other_paths_get_404_even_with_a_valid_token(herald, path):
    token = herald.token("alice")
    status, _ = raw_http(herald, upgrade_request(herald, path, token))
    assert status == 404
    status, _ = raw_http(herald, upgrade_request(herald, path + "?authToken=" + token))
    assert status == 404


def test_paths_that_are_not_the_endpoint_do_no_token_work(start_herald):
    server = start_herald("--log-level", "trace")
    tokens = [server.token("alice"), server.token("bob", ttl_s=-3600)]
    for path in NOT_THE_ENDPOINT:
        for token in tokens:
            assert raw_http(server, upgrade_request(server, path, token))[0] == 404
    metrics = server.metrics()
    assert not [k for k in metrics if k[0] == "herald_auth_failures_total"]
    logs = server.logs()
    for token in tokens:
        for part in token.split("."):
            assert part not in logs


def test_exact_path_upgrades(herald):
    status, response = raw_http(herald, upgrade_request(herald, "/ws/v4/events", herald.token()))
    assert status == 101
    assert "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in response  # RFC 6455 section 1.3 example


def test_exact_path_with_a_query_upgrades(herald):
    path = "/ws/v4/events?x=1&authToken=" + herald.token()
    assert raw_http(herald, upgrade_request(herald, path))[0] == 101


def test_exact_path_without_upgrade_is_not_a_websocket(herald):
    status, _ = herald.http_get("/ws/v4/events")
    assert status in (400, 404, 426)


async def test_websockets_client_gets_404_for_trailing_slash(herald):
    with pytest.raises(websockets.InvalidStatusCode) as info:
        await connect(herald, path="/ws/v4/events/")
    assert info.value.status_code == 404


async def test_api_version_flag_changes_the_path(start_herald):
    server = start_herald("--api-version", "v5")
    ws = await connect(server, path="/ws/v5/events")
    assert await barrier(ws) == []
    for path in ("/ws/v4/events", "/ws/v5/events/"):
        with pytest.raises(websockets.InvalidStatusCode) as info:
            await connect(server, path=path)
        assert info.value.status_code == 404


async def test_api_version_from_the_original_servers_variable(start_herald):
    server = start_herald(env={"API_VERSION": "v9"})
    ws = await connect(server, path="/ws/v9/events")
    assert await barrier(ws) == []
    with pytest.raises(websockets.InvalidStatusCode):
        await connect(server, path="/ws/v4/events")


def test_unsupported_websocket_version_is_a_426_naming_13(herald):
    request = upgrade_request(herald, "/ws/v4/events", herald.token())
    status, response = raw_http(herald, request.replace("Version: 13", "Version: 8"))
    assert status == 426
    assert "sec-websocket-version: 13" in response.lower()


def test_body_on_a_path_that_takes_none_is_a_413(herald):
    head = (
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    )
    assert raw_http(herald, head)[0] == 413
    chunked = "GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert raw_http(herald, chunked)[0] == 413
    assert herald.http_get("/healthz")[0] == 200
