"""Authentication at connect and while connected (DESIGN.md section 1)."""

import time
import urllib.parse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import (
    barrier,
    connect,
    error_event,
    expect_close,
    hand_signed_hs256,
    raw_http,
    recv,
    subscribe,
    upgrade_request,
)

ISSUER = "herald-tests"
AUDIENCE = "herald-clients"


async def assert_accepted(server, sub="alice", **connect_args):
    """Connects, proves the session works end to end, and closes."""
    ws = await connect(server, sub, **connect_args)
    await subscribe(ws, "users.*.*")
    await server.event("users.u1.created", {"ok": True})
    assert await recv(ws) == {"event": "users.u1.created", "data": {"ok": True}}
    await ws.close()


async def assert_refused(server, reason, **connect_args):
    """The upgrade completes, then one 401 error event and close 4401."""
    ws = await connect(server, **connect_args)
    frames, code, _ = await expect_close(ws)
    assert frames == [error_event(401, reason)]
    assert code == 4401


# -- ways to pass a token ----------------------------------------------------


async def test_token_in_authorization_header_is_accepted(herald):
    await assert_accepted(herald, token=herald.token("alice"))


@pytest.mark.parametrize("prefix", ["Bearer ", ""])
async def test_token_in_auth_header_query_is_accepted(herald, prefix):
    query = "authHeader=" + urllib.parse.quote(prefix + herald.token("alice"), safe="")
    await assert_accepted(herald, token="", query=query)


async def test_auth_header_query_with_plus_for_space_is_accepted(herald):
    await assert_accepted(herald, token="", query="authHeader=Bearer+" + herald.token("alice"))


async def test_token_in_auth_token_query_is_accepted(herald):
    await assert_accepted(herald, token="", query="other=1&authToken=" + herald.token("alice"))


async def test_sub_claim_is_the_user_for_users_lists(herald):
    alice = await connect(herald, token=herald.token("alice"))
    bob = await connect(herald, token=herald.token("bob"))
    await subscribe(alice, "users.*.*")
    await subscribe(bob, "users.*.*")
    await herald.event("users.u1.updated", 1, users=["bob"])
    await herald.event("users.u1.updated", 2)
    assert await recv(bob) == {"event": "users.u1.updated", "data": 1}
    assert await recv(bob) == {"event": "users.u1.updated", "data": 2}
    assert await recv(alice) == {"event": "users.u1.updated", "data": 2}


async def test_token_is_used_only_while_valid_and_not_checked_per_command(herald):
    ws = await connect(herald, token=herald.token("alice", ttl_s=3600))
    for _ in range(3):
        assert await barrier(ws) == []


# -- refusals ----------------------------------------------------------------


@pytest.fixture
def strict(start_herald):
    """A server that requires an issuer and an audience."""
    return start_herald("--auth-issuer", ISSUER, "--auth-audience", AUDIENCE)


async def test_missing_token_is_refused(strict):
    await assert_refused(strict, "missing token", token="")


async def test_empty_auth_token_query_is_refused_as_missing(strict):
    await assert_refused(strict, "missing token", token="", query="authToken=")


async def test_token_with_wrong_secret_is_refused_as_bad_signature(strict):
    await assert_refused(strict, "bad signature", token=strict.token(key="not-the-secret-at-all-0123456789"))


async def test_token_with_tampered_payload_is_refused_as_bad_signature(strict):
    header, _, signature = strict.token("alice").split(".")
    other = jwt.encode(strict.claims("mallory"), "x" * 32, algorithm="HS256").split(".")[1]
    await assert_refused(strict, "bad signature", token=f"{header}.{other}.{signature}")


async def test_expired_token_is_refused(strict):
    # Default leeway is 30 s; an hour ago is expired whatever the skew.
    await assert_refused(strict, "token expired", token=strict.token(ttl_s=-3600))


async def test_token_not_yet_valid_is_refused(strict):
    await assert_refused(
        strict, "token not yet valid", token=strict.token(nbf=int(time.time()) + 3600)
    )


async def test_token_from_another_issuer_is_refused(strict):
    await assert_refused(strict, "wrong issuer", token=strict.token(iss="someone-else"))


async def test_token_without_issuer_is_refused_when_one_is_required(strict):
    await assert_refused(strict, "wrong issuer", token=strict.token(iss=None))


async def test_token_for_another_audience_is_refused(strict):
    await assert_refused(strict, "wrong audience", token=strict.token(aud="another-service"))


async def test_audience_list_naming_ours_is_accepted(strict):
    await assert_accepted(strict, token=strict.token(aud=["another-service", AUDIENCE]))


async def test_token_with_issuer_and_audience_is_accepted(strict):
    await assert_accepted(strict, token=strict.token("alice"))


async def test_alg_none_is_refused(strict):
    token = jwt.encode(strict.claims(), None, algorithm="none")
    await assert_refused(strict, "algorithm not allowed", token=token)


async def test_alg_none_with_a_signature_is_refused(strict):
    token = hand_signed_hs256(strict.claims(), strict.secret.encode(), header={"alg": "none"})
    await assert_refused(strict, "algorithm not allowed", token=token)


async def test_algorithm_not_configured_is_refused(strict):
    token = strict.token(algorithm="HS384")  # right secret, but only HS256 is pinned
    await assert_refused(strict, "algorithm not allowed", token=token)


@pytest.mark.parametrize(
    "token",
    ["abc", "a.b", "a.b.c.d", "!!!.???.###", "bm90IGpzb24.e30.c2ln", "...."],
    ids=["one-part", "two-parts", "four-parts", "not-base64url", "header-not-json", "five-empty-parts"],
)
async def test_malformed_token_is_refused(strict, token):
    await assert_refused(strict, "malformed token", token=token)


async def test_signed_payload_that_is_not_json_is_refused_as_malformed(strict):
    token = hand_signed_hs256(b"not json", strict.secret.encode())
    await assert_refused(strict, "malformed token", token=token)


async def test_header_without_alg_is_refused_as_malformed(strict):
    token = hand_signed_hs256(strict.claims(), strict.secret.encode(), header={"typ": "JWT"})
    await assert_refused(strict, "malformed token", token=token)


async def test_token_without_subject_is_refused(strict):
    await assert_refused(strict, "missing subject", token=strict.token(sub=None))


async def test_refused_connection_sends_no_events(strict):
    ws = await connect(strict, token=strict.token(ttl_s=-3600))
    await strict.event("users.u1.created")
    frames, code, _ = await expect_close(ws)
    assert [f["event"] for f in frames] == ["error"]
    assert code == 4401


async def test_auth_failures_are_counted_by_reason(strict):
    await assert_refused(strict, "missing token", token="")
    await assert_refused(strict, "token expired", token=strict.token(ttl_s=-3600))
    await assert_refused(strict, "token expired", token=strict.token(ttl_s=-7200))
    await assert_refused(strict, "wrong issuer", token=strict.token(iss="x"))
    assert strict.metric("herald_auth_failures_total", reason="missing_token") == 1
    assert strict.metric("herald_auth_failures_total", reason="expired") == 2
    assert strict.metric("herald_auth_failures_total", reason="wrong_issuer") == 1
    await strict.wait_metric("herald_connections", lambda v: v == 0)


async def test_tokens_never_appear_in_logs(start_herald):
    server = start_herald("--log-level", "trace")
    good = server.token("alice")
    bad = server.token("alice", ttl_s=-3600)
    await assert_accepted(server, token=good)
    await assert_refused(server, "token expired", token=bad)
    await assert_refused(server, "token expired", token="", query="authToken=" + bad)
    logs = server.logs()
    for token in (good, bad):
        for part in token.split("."):
            assert part not in logs


# -- token expiry while connected --------------------------------------------


async def test_token_expiring_while_connected_closes_with_4401(start_herald):
    server = start_herald("--auth-leeway-s", "0")
    ws = await connect(server, token=server.token("alice", ttl_s=2))
    await subscribe(ws, "users.*.*")
    await server.event("users.u1.created", 1)
    assert await recv(ws) == {"event": "users.u1.created", "data": 1}
    frames, code, _ = await expect_close(ws, timeout=15)
    assert frames == [error_event(401, "token expired")]
    assert code == 4401
    assert server.metric("herald_drops_total", reason="token_expired") == 1
    await server.wait_metric("herald_subscriptions", lambda v: v == 0)


async def test_leeway_applies_to_expiry(start_herald):
    server = start_herald("--auth-leeway-s", "60")
    # Expired 10 s ago, but within the minute of leeway.
    await assert_accepted(server, token=server.token("alice", ttl_s=-10))


# -- public-key algorithms ----------------------------------------------------


def write_pem(tmp_path, private_key, name):
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    path = tmp_path / name
    path.write_bytes(pem)
    return str(path), pem


def private_pem(private_key):
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


async def test_rs256_token_is_accepted_with_public_key(start_herald, tmp_path, rsa_key):
    path, _ = write_pem(tmp_path, rsa_key, "rsa.pem")
    server = start_herald("--auth-public-key", path, "--auth-algorithms", "RS256")
    token = jwt.encode(server.claims("alice"), private_pem(rsa_key), algorithm="RS256")
    await assert_accepted(server, token=token)


async def test_es256_token_is_accepted_with_public_key(start_herald, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path, _ = write_pem(tmp_path, key, "ec.pem")
    server = start_herald("--auth-public-key", path, "--auth-algorithms", "ES256")
    token = jwt.encode(server.claims("alice"), private_pem(key), algorithm="ES256")
    await assert_accepted(server, token=token)
    other = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(server.claims("alice"), private_pem(other), algorithm="ES256")
    await assert_refused(server, "bad signature", token=forged)


async def test_rs_token_signed_by_another_key_is_refused(start_herald, tmp_path, rsa_key):
    path, _ = write_pem(tmp_path, rsa_key, "rsa.pem")
    server = start_herald("--auth-public-key", path, "--auth-algorithms", "RS256")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(server.claims("alice"), private_pem(other), algorithm="RS256")
    await assert_refused(server, "bad signature", token=token)


async def test_hs256_token_signed_with_the_public_key_is_refused(start_herald, tmp_path, rsa_key):
    path, pem = write_pem(tmp_path, rsa_key, "rsa.pem")
    server = start_herald("--auth-public-key", path, "--auth-algorithms", "RS256")
    # The classic confusion attack: HMAC keyed with the PEM text the server holds.
    token = hand_signed_hs256(server.claims("alice"), pem)
    await assert_refused(server, "algorithm not allowed", token=token)
    token = hand_signed_hs256(server.claims("alice"), pem.strip())
    await assert_refused(server, "algorithm not allowed", token=token)
    assert server.metric("herald_auth_failures_total", reason="algorithm_not_allowed") == 2


# -- where the token is taken from ------------------------------------------------


async def test_authorization_header_wins_over_query_parameters(herald):
    good = herald.token("alice")
    await assert_refused(
        herald, "token expired", token=herald.token(ttl_s=-3600),
        query=f"authHeader={good}&authToken={good}",
    )


async def test_auth_header_query_wins_over_auth_token_query(herald):
    good = herald.token("alice")
    query = "authHeader=" + urllib.parse.quote("Bearer " + herald.token(ttl_s=-3600)) + "&authToken=" + good
    await assert_refused(herald, "token expired", token="", query=query)


async def test_oversized_request_headers_are_refused_before_any_token_work(herald):
    request = upgrade_request(herald, "/ws/v4/events", herald.token())
    request = request[:-2] + "X-Pad: " + "p" * 20000 + "\r\n\r\n"
    status, _ = raw_http(herald, request)
    assert status == 431
    assert not [k for k in herald.metrics() if k[0] == "herald_auth_failures_total"]
