"""A real sharded bot: 16 shard processes under the shard manager count into one database.

The manager (``manager.ez``) spawns 16 shards of ``bot.ez`` against a sandbox, then
``broadcast_eval`` makes every shard run ``db_incr`` in a loop at the same time. The total
read back by the manager must be exact. This is the setup users have: the shards run the bot
file (forked from the manager's zygote), so they all open ``ezlang.db`` next to it, and the
manager beside it shares the same file — or, with ``EZLANG_REDIS_URL`` in the environment,
the same Redis.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from ezlang.sandbox import Sandbox

from .conftest import Backend, child_env, ezlang

pytestmark = pytest.mark.timeout(240)

SHARDS = 16
PER_SHARD = 300

MANAGER = f"""\
let manager = create_shard_manager("bot.ez", {{total_shards: {SHARDS}}})
spawn_shards()
db_set("hits", 0)
let seen = broadcast_eval("for i in range({PER_SHARD}) {{ db_incr(\\"hits\\") }}\\nreturn db_has(\\"hits\\")")
print(length(seen), db_get("hits"))
stop_shards()
"""


async def test_sixteen_shards_incr_into_one_store(tmp_path: Path, backend: Backend) -> None:
    (tmp_path / "bot.ez").write_text("bot_start()\n", encoding="utf-8")
    (tmp_path / "manager.ez").write_text(MANAGER, encoding="utf-8")
    env = dict(backend.env)
    env.pop("EZLANG_DB", None)  # the SQLite case uses the default: ezlang.db beside the files
    async with Sandbox(guilds=SHARDS, max_concurrency=SHARDS, identify_window=0.5) as sb:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ezlang", "run", "manager.ez", "--api", sb.api_url,
            cwd=tmp_path, env=child_env({**env, "DISCORD_TOKEN": sb.token}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 200)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    # The manager's own progress lines ("[manager] …") come first; the program's line last.
    assert out.decode().splitlines()[-1] == f"{SHARDS} {SHARDS * PER_SHARD}"
    assert "Traceback" not in stderr
    if backend.name == "sqlite":
        assert (tmp_path / "ezlang.db").is_file()
    else:
        assert not (tmp_path / "ezlang.db").exists()


async def test_the_managers_redis_option_is_the_database_of_manager_and_shards(
    tmp_path: Path, redis_server: Any
) -> None:
    # No EZLANG_REDIS_URL in the environment: only the manager's `redis` option names Redis.
    url = redis_server.url
    (tmp_path / "bot.ez").write_text("bot_start()\n", encoding="utf-8")
    manager = MANAGER.replace(
        f"{{total_shards: {SHARDS}}}", f'{{total_shards: 4, redis: "{url}"}}'
    ).replace(f"range({PER_SHARD})", "range(50)")
    (tmp_path / "manager.ez").write_text(manager, encoding="utf-8")
    async with Sandbox(guilds=4, max_concurrency=4, identify_window=0.5) as sb:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ezlang", "run", "manager.ez", "--api", sb.api_url,
            cwd=tmp_path, env=child_env({"DISCORD_TOKEN": sb.token}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 200)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    assert out.decode().splitlines()[-1] == "4 200"
    assert "Traceback" not in stderr
    # Every write went to Redis, none to an SQLite file beside the scripts.
    assert not (tmp_path / "ezlang.db").exists()
    stored = ezlang("db", "--redis", url, "get", "hits", cwd=tmp_path)
    assert stored.stdout.strip() == "200", stored.stderr
