"""The Redis bus runs only what it authenticated: signed by a manager of the same bot, fresh, once.

Anyone who can PUBLISH on the bot's Redis could otherwise run EasyLang code in every shard.
Each test sends its forged message *next to* a genuine call, and proves the genuine one ran while
the forged one did not (no call recorded, no reply published).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from ezlang.sharding.redis.bus import RedisBus
from ezlang.sharding.redis.connection import connect
from ezlang.sharding.redis.keys import RedisKeys
from ezlang.sharding.redis.signing import BusSigner, RejectedMessage

pytestmark = pytest.mark.timeout(60)

SECRET = "test-bot-token"
APP = "123"


class Recorder:
    """A host's local call that records what it was asked to run."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, Any]] = []

    async def __call__(self, shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
        self.calls.append((shard_id, op, payload))
        return {"ran": payload}


def request(payload: Any, sender: str = "mallory") -> dict[str, Any]:
    return {"id": f"{sender}|1|1", "from": sender, "shard_id": 1, "op": "eval", "payload": payload}


async def replies_on(url: str, channel: str) -> tuple[Any, list[Any]]:
    """Subscribe to ``channel``; returns the pubsub and a list that fills with its messages."""
    client = connect(url, socket_timeout=None)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    got: list[Any] = []

    async def read() -> None:
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
            if msg is not None:
                got.append(msg["data"])

    task = asyncio.create_task(read())
    return (client, pubsub, task), got


async def close_listener(handle: Any) -> None:
    client, pubsub, task = handle
    task.cancel()
    await asyncio.wait({task})
    await pubsub.aclose()
    await client.aclose()


async def test_unsigned_forged_non_object_and_replayed_requests_run_nothing_and_are_logged(
    redis_server,
) -> None:
    keys = RedisKeys(APP)
    warnings: list[str] = []
    served = Recorder()
    b = RedisBus(redis_server.url, APP, host="b", secret=SECRET, warn=warnings.append)
    a = RedisBus(redis_server.url, APP, host="a", secret=SECRET)
    await b.start(served)
    await a.start(Recorder())
    listener, mallory_replies = await replies_on(redis_server.url, keys.replies("mallory"))
    spy, seen_requests = await replies_on(redis_server.url, keys.requests("b"))
    raw = connect(redis_server.url)
    try:
        # A genuine call works, and the spy captured its signed request for the replay below.
        assert await a.call("b", 1, "eval", "genuine", timeout=5) == {"ran": "genuine"}
        deadline = time.monotonic() + 5
        while not seen_requests:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        genuine = seen_requests[0]
        # Signed with another key (another bot's token, or a guess).
        forged = BusSigner("not-the-token").seal(keys.requests("b"), request("forged"))
        # Signed correctly but for another channel (a reply channel): the MAC covers the channel.
        moved = BusSigner(SECRET).seal(keys.replies("b"), request("moved"))
        # Signed correctly but older than the replay window.
        stale = BusSigner(SECRET)
        old_ts = repr(time.time() - 120)
        body = json.dumps(request("stale"))
        stale_env = json.dumps(
            {
                "v": 1,
                "ts": old_ts,
                "nonce": "n1",
                "body": body,
                "mac": stale._mac(keys.requests("b"), old_ts, "n1", body),
            }
        )
        bad = [
            json.dumps(request("unsigned")),  # the pre-signing format
            "[1, 2]",
            '"x"',
            "5",
            "not json {",
            forged,
            moved,
            stale_env,
            genuine,  # replayed verbatim
        ]
        for data in bad:
            assert await raw.publish(keys.requests("b"), data) == 2  # host b and the spy
        # A second genuine call after them proves they were all read (one subscription, in order).
        assert await a.call("b", 1, "eval", "after", timeout=5) == {"ran": "after"}
        assert served.calls == [(1, "eval", "genuine"), (1, "eval", "after")]
        assert b.rejected == len(bad)
        await asyncio.sleep(0.3)  # a reply to "mallory" would have been published by now
        assert mallory_replies == []
        # Logged: one line, rate-limited (the rest counted, not printed).
        dropped = [w for w in warnings if "dropped a message" in w]
        assert len(dropped) == 1 and keys.requests("b") in dropped[0], warnings
        assert "unsigned" in dropped[0]
    finally:
        await close_listener(listener)
        await close_listener(spy)
        await raw.aclose()
        await a.close()
        await b.close()


def test_the_signer_refuses_each_kind_of_bad_message_with_its_reason() -> None:
    signer = BusSigner(SECRET, max_age=30)
    good = signer.seal("chan", {"x": 1})
    assert BusSigner(SECRET).open("chan", good) == {"x": 1}
    cases = {
        "unsigned": json.dumps({"x": 1}),
        "bad signature": BusSigner("other").seal("chan", {"x": 1}),
        "not JSON": "{",
    }
    for reason, data in cases.items():
        with pytest.raises(RejectedMessage) as err:
            signer.open("chan", data)
        assert err.value.reason == reason
    with pytest.raises(RejectedMessage, match="bad signature"):
        signer.open("other-channel", good)
    assert signer.open("chan", good) == {"x": 1}
    with pytest.raises(RejectedMessage, match="replayed"):
        signer.open("chan", good)


def test_a_full_nonce_memory_refuses_what_it_forgot_instead_of_accepting_a_replay() -> None:
    signer = BusSigner(SECRET, max_nonces=3)
    sealed = [signer.seal("chan", {"n": i}) for i in range(5)]
    for data in sealed:
        signer.open("chan", data)
    assert len(signer._seen) == 3
    for data in sealed[:2]:  # forgotten nonces: refused by timestamp, never accepted again
        with pytest.raises(RejectedMessage, match="replayed"):
            signer.open("chan", data)
