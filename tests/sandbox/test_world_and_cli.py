"""The world generator (deterministic, evenly sharded, cheap) and the ``ezlang sandbox`` CLI."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import tracemalloc
import urllib.request

import pytest

from ezlang.sandbox import Sandbox, SandboxError, World
from ezlang.sandbox.cli import main as cli_main


def test_world_is_deterministic_from_the_seed():
    a, b, c = World(50, seed=1), World(50, seed=1), World(50, seed=2)
    assert a.guild_json(7) == b.guild_json(7)
    assert a.guild(7)["name"] != c.guild(7)["name"] or a.member_ids(7) != c.member_ids(7)
    assert a.bot_id == b.bot_id


@pytest.mark.parametrize("shard_count", [1, 2, 3, 7, 16, 100])
def test_guilds_spread_evenly_over_any_shard_count(shard_count):
    world = World(1000)
    sizes = [world.count_for_shard(s, shard_count) for s in range(shard_count)]
    assert sum(sizes) == 1000 and max(sizes) - min(sizes) <= 1
    for s in range(shard_count):
        assert all(
            World.shard_of(g, shard_count) == s for g in world.guild_ids_for_shard(s, shard_count)
        )


def test_guilds_have_channels_roles_and_members_that_resolve_back():
    world = World(10)
    g = world.guild(3)
    gid = int(g["id"])
    assert world.guild_index(gid) == 3
    text = [c for c in g["channels"] if c["type"] == 0]
    assert text and all(world.channel(int(c["id"])).guild_id == gid for c in g["channels"])
    assert g["roles"][0]["name"] == "@everyone" and len(g["roles"]) >= 3
    member_ids = {m["user"]["id"] for m in g["members"]}
    assert str(world.bot_id) in member_ids and len(member_ids) >= 3
    assert world.channel(gid | 999) is None and world.guild_index(gid + 1) is None


def test_a_world_of_100k_guilds_builds_fast_and_small():
    t0 = time.perf_counter()
    world = World(100_000)
    ids = world.guild_ids_for_shard(7, 100)
    payloads = [world.guild_json(world.guild_index(g)) for g in ids]
    elapsed = time.perf_counter() - t0
    assert len(ids) == 1000 and len(payloads) == 1000
    assert elapsed < 5.0  # about 0.05 s on an idle machine
    tracemalloc.start()  # separately: tracemalloc slows allocation several times over
    world = World(100_000)
    for g in world.guild_ids_for_shard(7, 100):
        world.guild_json(world.guild_index(g))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 64 * 1024 * 1024


def test_sandbox_rejects_bad_arguments():
    with pytest.raises(SandboxError):
        Sandbox(guilds=-1)
    with pytest.raises(SandboxError):
        Sandbox(max_concurrency=0)
    with pytest.raises(SandboxError):
        Sandbox(token="")


async def test_guilds_for_shard_rejects_invalid_shards():
    sb = Sandbox(guilds=5)
    with pytest.raises(SandboxError):
        sb.guilds_for_shard(2, 2)


@pytest.mark.parametrize(
    "argv",
    [
        ["--guilds", "-5"],
        ["--guilds", "many"],
        ["--max-concurrency", "0"],
        ["--identify-window", "-1"],
        ["--port", "70000"],
        ["--token", ""],
        ["--no-such-flag"],
    ],
)
def test_cli_bad_flag_values_exit_2_with_a_clear_error(argv, capsys):
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert "ezlang sandbox: error:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "command",
    [["-m", "ezlang.sandbox.cli"], ["-m", "ezlang", "sandbox"]],
    ids=["module", "ezlang-sandbox"],
)
def test_cli_prints_sandbox_ready_serves_and_exits_0_on_sigterm(command):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            *command,
            "--guilds",
            "1500",
            "--identify-window",
            "0.5",
            "--token",
            "t0k",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        first = proc.stdout.readline() if ready else ""
        if not first.startswith("SANDBOX_READY "):
            proc.kill()
            pytest.fail(f"no SANDBOX_READY line; got {first!r}; stderr: {proc.stderr.read()}")
        info = json.loads(first[len("SANDBOX_READY ") :])
        assert set(info) == {"api", "gateway", "control", "token"} and info["token"] == "t0k"
        assert info["api"].startswith("http://127.0.0.1:") and info["api"].endswith("/api/v10")
        req = urllib.request.Request(
            info["api"] + "/gateway/bot", headers={"Authorization": "Bot t0k"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.loads(r.read())
        assert body["shards"] == 2 and body["x_identify_window"] == 0.5
        with urllib.request.urlopen(info["control"] + "/state", timeout=10) as r:
            assert json.loads(r.read())["guilds"] == 1500
        proc.send_signal(signal.SIGTERM)
        # Not communicate(): it reads the pipe's fd directly and would miss what the
        # text wrapper already buffered along with the first line.
        assert proc.wait(timeout=20) == 0, proc.stderr.read()
        out = proc.stdout.read()
        assert "recommended" in out and "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_fast_guild_json_equals_the_guild_object(seed):
    world = World(5000, seed=seed)
    for index in (0, 1, 2500, 4999):
        assert json.loads(world.guild_json(index)) == world.guild(index)
