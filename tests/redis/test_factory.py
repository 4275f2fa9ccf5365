"""The manager's entry into multi-host mode: ``redis.factory.make_backends`` and URL handling."""

from __future__ import annotations

import types
from typing import Any

import pytest

from ezlang.lang.errors import EzError
from ezlang.sharding.backends import GatewayFacts
from ezlang.sharding.redis.connection import redact_url, validate_redis_url
from ezlang.sharding.redis.factory import application_id, make_backends

pytestmark = pytest.mark.timeout(60)

TOKEN = "MTIz.secret-token-value"


def options(url: str, **kw: Any) -> Any:
    base = {
        "redis": url,
        "api": "http://127.0.0.1:9/api/v10",  # nothing listens: the app id falls back
        "token": TOKEN,
        "total_shards": 8,
        "shard_list": (0, 1, 2, 3),
        "heartbeat_interval": 0.5,
        "max_eval_bytes": 2 * 1024 * 1024,
    }
    return types.SimpleNamespace(**{**base, **kw})


def gateway(total: int = 8) -> GatewayFacts:
    return GatewayFacts(
        url="ws://127.0.0.1:9/gateway",
        recommended_shards=total,
        total_shards=total,
        max_concurrency=1,
        identify_window=0.5,
        remaining=1000,
        reset_after_ms=0,
    )


def test_redis_urls_are_checked_and_passwords_never_shown() -> None:
    assert (
        validate_redis_url("rediss://:pw@example.com:6380/2") == "rediss://:pw@example.com:6380/2"
    )
    for bad in ("http://localhost:6379", "redis://", "redis://host:notaport/0"):
        with pytest.raises(EzError) as err:
            validate_redis_url(bad)
        assert err.value.kind == "ValueError" and "option 'redis'" in err.value.message
    with pytest.raises(EzError) as err:
        validate_redis_url(6379)
    assert err.value.kind == "TypeError"
    assert redact_url("redis://:s3cret@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("redis://user:s3cret@h/0") == "redis://user:***@h/0"
    assert redact_url("redis://h:1/0") == "redis://h:1/0"


async def test_the_application_id_falls_back_to_a_digest_never_the_token() -> None:
    app = await application_id("http://127.0.0.1:9/api/v10", TOKEN)
    assert app.startswith("token-") and "secret" not in app and TOKEN not in app
    assert app == await application_id("http://127.0.0.1:9/api/v10", TOKEN)  # stable


async def test_make_backends_agrees_and_returns_redis_parts(redis_server) -> None:
    first = await make_backends(options(redis_server.url), gateway())
    assert first.remote.multi.bus.max_bytes == 2 * 1024 * 1024  # the option reaches the bus
    assert first.total_shards == 8 and first.max_concurrency == 1
    assert type(first.identify_queue).__name__ == "RedisIdentifyQueue"
    assert first.remote is not None
    # A second host whose "auto" resolved differently adopts 8 …
    second = await make_backends(
        options(redis_server.url, total_shards=None, shard_list=(4, 5, 6, 7)), gateway(12)
    )
    assert second.total_shards == 8
    # … and one whose shard_list does not fit the fixed total is refused, naming who fixed it.
    with pytest.raises(EzError) as err:
        await make_backends(
            options(redis_server.url, total_shards=None, shard_list=(8, 9)), gateway(12)
        )
    assert "outside [0, 8)" in err.value.message
    for b in (first, second):
        await b.remote.close()


async def test_make_backends_with_redis_down_is_a_clear_error(redis_server) -> None:
    redis_server.stop()
    with pytest.raises(EzError) as err:
        await make_backends(options(redis_server.url), gateway())
    assert err.value.kind == "ShardingError"
    assert "cannot reach Redis" in err.value.message and "total_shards" in err.value.message


def test_the_single_host_path_never_loads_redis() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ezlang.sharding.manager, ezlang.sharding.backends\n"
        "loaded = [m for m in sys.modules if m == 'redis' or m.startswith(('redis.', "
        "'ezlang.sharding.redis'))]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
