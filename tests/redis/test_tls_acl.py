"""Redis over TLS (rediss://) and with a password / an ACL user, against real redis-servers.

The TLS server gets a self-signed certificate made here; the clients trust exactly that
certificate, so the test also proves verification is on (a client without it is refused). The ACL
user is restricted to the bot's key prefix and channels, as docs/SHARDING.md recommends.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import NoPermissionError
from tests.redis.conftest import make_self_signed_cert

from ezlang.lang.errors import EzError
from ezlang.sharding.redis.connection import connect
from ezlang.sharding.redis.multihost import RedisMultiHost

pytestmark = pytest.mark.timeout(60)

SECRET = "test-bot-token"
APP = "42"


async def serve(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
    return {"shard": shard_id, "op": op, "payload": payload}


async def join(url: str, name: str, shards: list[int]) -> RedisMultiHost:
    multi = RedisMultiHost(url, APP, host=name, ttl=2.0, secret=SECRET)
    await multi.join(
        total_shards=4,
        explicit=True,
        max_concurrency=1,
        identify_window=0.2,
        shard_ids=shards,
        serve=serve,
    )
    return multi


async def exercise_two_hosts(url: str) -> None:
    """Two members of one bot: join, identify, call each other's shards, leave."""
    a = await join(url, "a", [0, 1])
    b = await join(url, "b", [2, 3])
    try:
        await a.queue.acquire(0)
        assert await a.call(3, "echo", "x", 5.0) == {"shard": 3, "op": "echo", "payload": "x"}
        assert await b.call(1, "echo", "y", 5.0) == {"shard": 1, "op": "echo", "payload": "y"}
        outcomes = await a.gather("echo", None, 5.0)
        assert [o.value["shard"] for o in outcomes] == [0, 1, 2, 3]
    finally:
        await a.leave()
        await b.leave()


@pytest.fixture
def tls_server(tmp_path: Path, make_redis_server) -> Any:
    cert = make_self_signed_cert(tmp_path)
    try:
        return make_redis_server(tls=cert)
    except RuntimeError as exc:
        if "tls" in str(exc).lower():
            pytest.skip(f"this redis-server was built without TLS support: {exc}")
        raise


async def test_two_hosts_share_a_bot_over_tls_with_a_verified_certificate(tls_server) -> None:
    assert tls_server.url.startswith("rediss://")
    await exercise_two_hosts(tls_server.url)


async def test_a_tls_client_that_does_not_trust_the_certificate_is_refused_clearly(
    tls_server,
) -> None:
    untrusted = f"rediss://127.0.0.1:{tls_server.port}/0"  # the system CAs only
    multi = RedisMultiHost(untrusted, APP, host="a", ttl=2.0, secret=SECRET)
    try:
        with pytest.raises(EzError) as err:
            await multi.agree(
                total_shards=4,
                explicit=True,
                max_concurrency=1,
                identify_window=0.2,
                shard_ids=[0],
            )
    finally:
        await multi.leave()
    assert err.value.kind == "ShardingError"
    assert "certificate verify failed" in err.value.message, err.value.message
    assert "\n" not in err.value.message


async def test_an_acl_user_limited_to_the_bots_keys_and_channels_runs_a_bot(
    make_redis_server,
) -> None:
    server = make_redis_server(extra_args=("--requirepass", "admin-password"))
    admin = connect(server.url_for(password="admin-password"))
    try:
        # The line docs/SHARDING.md recommends, for application 42.
        await admin.execute_command(
            "ACL", "SETUSER", "ezbot", "on", ">bot-password", "resetkeys", "~ezlang:{42}:*",
            "resetchannels", "&ezlang:{42}:*", "-@all", "+@read", "+@write", "+@scripting",
            "+@pubsub", "+@connection", "-@dangerous", "+info", "+time",
        )  # fmt: skip
    finally:
        await admin.aclose()
    url = server.url_for("ezbot", "bot-password")
    await exercise_two_hosts(url)
    bot = connect(url)
    try:
        with pytest.raises(NoPermissionError):  # the ACL is real: other keys are off limits
            await bot.set("someone-else:key", "1")
        with pytest.raises(NoPermissionError):
            await bot.flushall()
    finally:
        await bot.aclose()


async def test_a_wrong_password_is_one_clear_line_that_hides_the_password(
    make_redis_server, capfd: pytest.CaptureFixture[str]
) -> None:
    server = make_redis_server(extra_args=("--requirepass", "right-password"))
    multi = RedisMultiHost(
        server.url_for(password="wrong-password"), APP, host="a", ttl=2.0, secret=SECRET
    )
    try:
        with pytest.raises(EzError) as err:
            await multi.agree(
                total_shards=4, explicit=True, max_concurrency=1, identify_window=0.2,
                shard_ids=[0],
            )  # fmt: skip
    finally:
        await multi.leave()
    message = err.value.message
    assert err.value.kind == "ShardingError"
    assert "refused the login" in message and "'redis' option" in message, message
    assert "wrong-password" not in message and ":***@" in message
    assert "\n" not in message
    await asyncio.sleep(0)  # let any orphaned callback run before looking at stderr
    err_text = capfd.readouterr().err
    assert "Traceback" not in err_text and "never retrieved" not in err_text, err_text
