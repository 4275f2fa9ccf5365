"""RedisBus against a real redis-server: cross-host request/reply."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ezlang.lang.errors import EzError
from ezlang.sharding.redis.bus import HostUnreachable, RedisBus

pytestmark = pytest.mark.timeout(60)

#: Signs the bus messages (the bot token in real use).
SECRET = "test-bot-token"


async def fake_local_call(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
    """Stands in for a manager's call_shard."""
    if op == "echo":
        return {"shard": shard_id, "payload": payload}
    if op == "fail":
        raise EzError("ShardingError", f"shard {shard_id} failed: boom")
    if op == "slow":
        await asyncio.sleep(30)
    if op == "unserialisable":
        return object()
    raise EzError("ValueError", f"unknown op {op}")


async def make_bus(url: str, host: str, **kw: object) -> RedisBus:
    kw.setdefault("secret", SECRET)
    bus = RedisBus(url, "123", host=host, **kw)  # type: ignore[arg-type]
    await bus.start(fake_local_call)
    return bus


async def test_a_call_runs_on_the_other_host_and_returns_its_result(redis_server) -> None:
    a, b = await make_bus(redis_server.url, "a"), await make_bus(redis_server.url, "b")
    assert await a.call("b", 5, "echo", [1, "x"], timeout=5) == {"shard": 5, "payload": [1, "x"]}
    many = await asyncio.gather(*(b.call("a", i, "echo", i, timeout=5) for i in range(20)))
    assert [m["payload"] for m in many] == list(range(20))
    await a.close()
    await b.close()


async def test_errors_come_back_as_the_same_ezlang_error(redis_server) -> None:
    a, b = await make_bus(redis_server.url, "a"), await make_bus(redis_server.url, "b")
    with pytest.raises(EzError) as err:
        await a.call("b", 2, "fail", None, timeout=5)
    assert (err.value.kind, err.value.message) == ("ShardingError", "shard 2 failed: boom")
    with pytest.raises(EzError) as err:
        await a.call("b", 2, "unserialisable", None, timeout=5)
    assert "cannot be sent" in err.value.message
    await a.close()
    await b.close()


async def test_a_call_that_misses_its_timeout_raises_timeout_error(redis_server) -> None:
    a, b = await make_bus(redis_server.url, "a"), await make_bus(redis_server.url, "b")
    t0 = time.monotonic()
    with pytest.raises(EzError) as err:
        await a.call("b", 1, "slow", None, timeout=0.3)
    assert err.value.kind == "TimeoutError" and "shard 1" in err.value.message
    assert time.monotonic() - t0 < 3
    await a.close()
    await b.close()


async def test_a_host_that_is_not_listening_is_unreachable_at_once(redis_server) -> None:
    a = await make_bus(redis_server.url, "a")
    t0 = time.monotonic()
    with pytest.raises(HostUnreachable) as err:
        await a.call("gone", 3, "echo", None, timeout=5)
    assert time.monotonic() - t0 < 1
    assert err.value.host == "gone" and "shard 3" in err.value.message
    await a.close()


async def test_redis_down_fails_calls_within_the_timeout_and_recovers(redis_server) -> None:
    warnings: list[str] = []
    a = await make_bus(redis_server.url, "a", warn=warnings.append)
    b = await make_bus(redis_server.url, "b")
    redis_server.stop()
    t0 = time.monotonic()
    with pytest.raises(HostUnreachable):
        await a.call("b", 1, "echo", None, timeout=0.5)
    assert time.monotonic() - t0 < 3
    assert any("unreachable" in w for w in warnings)
    redis_server.start()

    async def works() -> bool:
        try:
            return await a.call("b", 1, "echo", "ok", timeout=1) == {"shard": 1, "payload": "ok"}
        except EzError:
            await asyncio.sleep(0.1)
            return False

    deadline = time.monotonic() + 15
    ok = False
    while not ok and time.monotonic() < deadline:
        ok = await works()
    assert ok
    await a.close()
    await b.close()


async def test_an_idle_subscription_stays_up_and_keeps_answering(redis_server) -> None:
    import ezlang.sharding.redis.bus as bus_module

    warnings: list[str] = []
    old = bus_module._PING_INTERVAL
    bus_module._PING_INTERVAL = 0.2  # liveness is judged after 3 silent intervals: 0.6 s
    try:
        a = await make_bus(redis_server.url, "a", warn=warnings.append)
        b = await make_bus(redis_server.url, "b", warn=warnings.append)
        await asyncio.sleep(2.0)  # idle for many ping intervals
        assert warnings == []  # no false "Redis is unreachable" from the liveness check
        assert await a.call("b", 1, "echo", "x", timeout=2) == {"shard": 1, "payload": "x"}
        await a.close()
        await b.close()
    finally:
        bus_module._PING_INTERVAL = old


async def big_local_call(shard_id: int, op: str, payload: Any, timeout: float | None) -> Any:
    """A shard whose result is ``payload`` characters long."""
    return "x" * int(payload)


async def test_requests_and_results_over_max_bytes_are_value_errors_and_the_bus_stays_up(
    redis_server,
) -> None:
    limit = 1024 * 1024
    a = await make_bus(redis_server.url, "a", max_bytes=limit)
    b = await make_bus(redis_server.url, "b", max_bytes=limit)
    b.serve_with(big_local_call)
    # Up to the limit a result travels intact (a JSON string: n characters + 2 quotes).
    assert await a.call("b", 1, "big", limit - 2, timeout=10) == "x" * (limit - 2)
    with pytest.raises(EzError) as err:
        await a.call("b", 1, "big", limit - 1, timeout=10)
    assert err.value.kind == "ValueError"
    assert err.value.message.startswith(
        f"the result of shard 1 on host 'b' is 1.0 MiB ({limit + 1} bytes of JSON), more than "
        f"the limit of 1.0 MiB ({limit} bytes, the shard manager option max_eval_bytes)"
    )
    # A batch carries several results in one message: the batch as a whole is bounded.
    with pytest.raises(EzError) as err:
        await a.call_many("b", [1, 2], "big", limit // 2 + 1, timeout=10)
    assert "the result of shards 1, 2 on host 'b' (sent as one) is 1.0 MiB" in err.value.message
    # A request over the limit is refused before it is published.
    with pytest.raises(EzError) as err:
        await a.call("b", 1, "echo", "y" * limit, timeout=10)
    assert err.value.kind == "ValueError"
    assert err.value.message.startswith("the echo request to shard 1 is 1.0 MiB")
    assert await a.call("b", 1, "big", 3, timeout=5) == "xxx"  # still up
    await a.close()
    await b.close()
