"""Real managers (separate processes) facing a hostile or failing Redis side: no Python noise.

Each test checks the stderr of the manager that survives (or fails cleanly): no "Traceback", no
asyncio "exception was never retrieved" — only ezlang's own one-line messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.redis.conftest import _free_port
from tests.redis.test_two_managers import GUILDS, WINDOW, ManagerHost

from ezlang.sandbox import Sandbox
from ezlang.sharding.redis.connection import connect
from ezlang.sharding.redis.signing import BusSigner

pytestmark = pytest.mark.timeout(150)

TOTAL = 4


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(guilds=GUILDS, max_concurrency=1, identify_window=WINDOW) as sb:
        yield sb


@pytest.fixture
async def pair(sandbox: Sandbox, redis_server) -> AsyncIterator[list[ManagerHost]]:
    hosts = [ManagerHost("host-a", [0, 1]), ManagerHost("host-b", [2, 3])]
    try:
        for h in hosts:
            await h.start(sandbox, redis_server.url, total=TOTAL)
        await asyncio.gather(*(h.wait_spawned() for h in hosts))
        yield hosts
    finally:
        await asyncio.gather(*(h.stop() for h in hosts))


async def key_prefix(url: str) -> str:
    """The bot's key prefix (``ezlang:{<application id>}:``), read from Redis."""
    r = connect(url)
    try:
        keys = [k async for k in r.scan_iter(match="ezlang:{*}:config")]
    finally:
        await r.aclose()
    assert len(keys) == 1, keys
    return keys[0][: -len("config")]


async def next_message(pubsub: Any, timeout: float = 10) -> Any:
    """The next published message (subscribe confirmations skipped), within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if msg is not None:
            return msg
        assert time.monotonic() < deadline, "no message published"


async def wait_for_line(host: ManagerHost, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in host.stderr):
        assert time.monotonic() < deadline, f"no {text!r} on {host.name}'s stderr"
        await asyncio.sleep(0.05)


async def test_a_forged_request_on_a_managers_channel_runs_nothing_and_is_logged(
    redis_server, sandbox: Sandbox, pair: list[ManagerHost]
) -> None:
    a, b = pair
    prefix = await key_prefix(redis_server.url)
    requests, replies = prefix + "req:host-b", prefix + "rep:mallory"
    r = connect(redis_server.url)
    listener = connect(redis_server.url, socket_timeout=None).pubsub()
    await listener.subscribe(replies)
    try:
        request = {
            "id": "mallory|1|1",
            "from": "mallory",
            "shard_ids": [2, 3],
            "op": "eval",
            "payload": {"code": "return client.guilds.cache.size", "timeout": 5},
            "timeout": 5,
        }
        for data in (json.dumps(request), "[1, 2]", '"x"', "5"):
            assert await r.publish(requests, data) == 1  # host-b is listening
        # The control: the same request signed with the bot's token is answered — so the
        # silence above is the signature check, not a wrong channel or format.
        signed = BusSigner(sandbox.token).seal(requests, request)
        assert await r.publish(requests, signed) == 1
        got = [await next_message(listener)]  # the signed control request's reply
        extra = await listener.get_message(ignore_subscribe_messages=True, timeout=0.5)
        assert extra is None, extra  # one reply: to the signed request, none to the forgeries
        reply = BusSigner(sandbox.token).open(replies, got[0]["data"])
        assert reply["ok"] and all(x["ok"] for x in reply["result"]), reply
        assert sum(x["result"] for x in reply["result"]) > 0  # the control really ran the code
        await wait_for_line(b, "dropped a message")
        assert sum(1 for line in b.stderr if "dropped a message" in line) == 1  # rate-limited
        # Both managers keep working.
        assert sum(await a.ask("eval", "return client.guilds.cache.size")) == GUILDS
    finally:
        await listener.aclose()
        await r.aclose()
    await asyncio.gather(a.stop(), b.stop())
    a.assert_no_python_noise()
    b.assert_no_python_noise()


async def test_a_peer_dying_during_a_cross_host_broadcast_eval_gives_one_clean_error(
    redis_server, pair: list[ManagerHost]
) -> None:
    a, b = pair
    prefix = await key_prefix(redis_server.url)
    spy = connect(redis_server.url, socket_timeout=None).pubsub()
    await spy.subscribe(prefix + "req:host-b")
    try:
        call = asyncio.ensure_future(a.ask("eval", "wait(2)\nreturn 1"))
        try:
            await next_message(spy)  # host-b has the request too: it is running it now
            b.kill()
        finally:
            with pytest.raises(AssertionError, match="shard [23]"):
                await call
    finally:
        await spy.aclose()  # from now on nobody listens on host-b's channel
    assert b.proc is not None
    await b.proc.wait()
    with pytest.raises(AssertionError, match="shard [23]"):  # again: the noise came every time
        await a.ask("eval", "return 1")
    stats = await a.ask("stats")  # host-a still answers for its own shards
    assert [s["ready"] for s in stats[:2]] == [True, True]
    await a.stop()
    assert a.proc is not None and a.proc.returncode == 0
    a.assert_no_python_noise()


async def test_spawn_on_an_unreachable_redis_or_a_wrong_password_fails_in_one_clean_line(
    sandbox: Sandbox, make_redis_server
) -> None:
    locked = make_redis_server(extra_args=("--requirepass", "right-password"))
    cases = {
        "unreachable": f"redis://127.0.0.1:{_free_port()}/0",
        "wrong password": locked.url_for(password="wrong-password"),
    }
    for what, url in cases.items():
        host = ManagerHost(f"host-{what.replace(' ', '-')}", [0, 1])
        await host.start(sandbox, url, total=2)
        assert host.spawned is not None
        msg = await asyncio.wait_for(asyncio.shield(host.spawned), 60)
        assert msg["event"] == "spawn_failed", msg
        assert msg["kind"] == "ShardingError", msg
        assert "Redis at redis://" in msg["message"], msg
        assert "\n" not in msg["message"]
        if what == "wrong password":
            assert "refused the login" in msg["message"], msg
            assert "wrong-password" not in msg["message"]  # never print the secret
        await host.stop()
        host.assert_no_python_noise()


async def test_a_redis_restart_warns_once_and_says_once_that_it_is_back(
    redis_server, pair: list[ManagerHost]
) -> None:
    a, b = pair
    redis_server.stop()
    await wait_for_line(a, "is unreachable")
    await asyncio.sleep(1.0)  # a second of outage: every retry loop fails many times meanwhile
    redis_server.start()
    await wait_for_line(a, "is reachable again")
    deadline = time.monotonic() + 30
    while True:  # both hosts republished their shards: the whole bot answers again
        stats = await a.ask("stats")
        if all(s["ready"] for s in stats):
            break
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.1)
    assert sum(await a.ask("eval", "return client.guilds.cache.size")) == GUILDS
    for h in (a, b):
        down = [line for line in h.stderr if "is unreachable" in line]
        back = [line for line in h.stderr if "is reachable again" in line]
        assert len(down) <= 1 and len(back) <= 1, h.stderr_text()
    assert len([line for line in a.stderr if "is unreachable" in line]) == 1
    await asyncio.gather(a.stop(), b.stop())
    a.assert_no_python_noise()
    b.assert_no_python_noise()


async def test_a_shard_of_another_host_dying_during_an_eval_is_named_once(
    redis_server, pair: list[ManagerHost]
) -> None:
    a, b = pair
    stats = await b.ask("stats")
    pid = next(s["pid"] for s in stats if s["shard_id"] == 2)
    assert pid
    prefix = await key_prefix(redis_server.url)
    spy = connect(redis_server.url, socket_timeout=None).pubsub()
    await spy.subscribe(prefix + "req:host-b")
    try:
        call = asyncio.ensure_future(a.ask("eval_one", {"code": "wait(3)\nreturn 1", "shard": 2}))
        await next_message(spy)  # host-b has the request: shard 2 is running it now
        os.kill(pid, signal.SIGKILL)
        # The shard's failure crosses the bus as what it is: host-a names the shard once.
        with pytest.raises(AssertionError) as info:
            await call
    finally:
        await spy.aclose()
    assert str(info.value) == (
        "host-a eval_one: ShardingError: shard 2 exited (killed by SIGKILL) during broadcast_eval"
    )
    a.assert_no_python_noise()
    b.assert_no_python_noise()
