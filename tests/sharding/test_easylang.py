"""broadcast_eval, .ez bots, calls from inside a shard, and the EasyLang manager scripts."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox

from .conftest import HERE, identifies, text_channel, wait_until

pytestmark = pytest.mark.timeout(120)

EZBOT = HERE / "bots" / "bot.ez"
ROOT = HERE.parent.parent
EXAMPLES = ROOT / "examples"


async def test_broadcast_eval_runs_easylang_in_every_shard(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    sizes = [len(sandbox.guilds_for_shard(i, 2)) for i in (0, 1)]
    assert await manager.broadcast_eval("return client.guilds.cache.size") == sizes
    # A bare expression works too, and results stay ordered by shard id.
    assert await manager.broadcast_eval("client.shard.ids") == [[0], [1]]
    pings = await manager.broadcast_eval("client.ws.ping")
    assert all(isinstance(p, int | float) for p in pings)
    assert await manager.broadcast_eval("return client.shard.ids[0] * 10", shard=1) == 10


async def test_broadcast_eval_errors_name_the_shard_and_keep_their_kind(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval("return no_such_name + 1")
    assert info.value.kind == "NameError"
    assert re.search(r"failed on shard [01]: 'no_such_name' is not defined", info.value.message)
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval("return (", shard=1)
    assert info.value.kind == "SyntaxError" and "shard 1" in info.value.message
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval("return 1", shard=5)
    assert info.value.kind == "ValueError" and "unknown shard 5" in info.value.message


async def test_broadcast_eval_never_hangs_on_slow_code(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    started = time.monotonic()
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval("wait(30)", timeout=0.5)
    assert time.monotonic() - started < 2
    assert info.value.kind == "TimeoutError" and re.search(r"shard [01]", info.value.message)
    # The shards are still fine afterwards.
    assert await manager.broadcast_eval("return 1") == [1, 1]


async def test_broadcast_eval_while_a_shard_dies_fails_within_the_timeout(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=2)
    await manager.spawn()
    shard = manager.shards[1]
    old_pid = shard.pid
    call = asyncio.ensure_future(manager.broadcast_eval("wait(3)\nreturn 1", timeout=10))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)
    with pytest.raises(EzError) as info:
        await asyncio.wait_for(call, 10)
    assert time.monotonic() - started < 2
    assert info.value.kind == "ShardingError"
    assert "shard 1 exited (killed by SIGKILL) during broadcast_eval" in info.value.message
    # A new process, not the old one's stale status: the pid and the restart count changed.
    await wait_until(
        lambda: shard.status == "ready" and shard.pid != old_pid, 20, "shard 1 respawned"
    )
    assert shard.restarts == 1


@pytest.mark.parametrize(
    ("bot", "how"),
    [(HERE / "bots" / "pybot.py", "killed by SIGTERM"), (EZBOT, "exit code 0")],
    ids=["discord.py", "easylang"],
)
async def test_a_shard_stopped_by_sigterm_during_an_eval_says_it_exited_during_it(
    sandbox: Sandbox, make_manager, bot: Path, how: str
) -> None:
    # An EasyLang shard catches SIGTERM, cancels the eval and exits 0; a discord.py bot dies
    # of the signal. Either way the caller learns the shard exited, not that "the call was
    # cancelled".
    manager, _ = make_manager(bot, total_shards=2, respawn=False)
    await manager.spawn()
    call = asyncio.ensure_future(manager.broadcast_eval("wait(3)\nreturn 1", timeout=10))
    await asyncio.sleep(0.3)
    os.kill(manager.shards[1].pid, signal.SIGTERM)
    with pytest.raises(EzError) as info:
        await asyncio.wait_for(call, 10)
    assert info.value.kind == "ShardingError"
    assert info.value.message == f"shard 1 exited ({how}) during broadcast_eval"
    assert manager.shards[1].status == "dead"


async def test_a_shard_is_not_ready_from_the_moment_it_dies(sandbox: Sandbox, make_manager) -> None:
    manager, _ = make_manager(total_shards=2, respawn=False)
    await manager.spawn()
    shard = manager.shards[0]
    os.kill(shard.pid, signal.SIGKILL)
    # Call it again and again from the moment of the kill: the first failure must already
    # see a dead shard, never one whose status still says ready.
    with pytest.raises(EzError) as info:
        for _ in range(500):  # bounded: the kill lands within milliseconds
            await manager.broadcast_eval("return 1", shard=0)
            await asyncio.sleep(0.01)
    assert shard.status == "dead"  # at the moment the call failed, not later
    message = info.value.message
    assert info.value.kind == "ShardingError" and "status ready" not in message
    assert re.fullmatch(
        r"shard 0 exited \(killed by SIGKILL\) during broadcast_eval"
        r"|broadcast_eval: shard 0 is not running \(status dead; last exit: killed by SIGKILL\)",
        message,
    ), message
    stats = await manager.stats()
    assert stats[0]["status"] == "dead" and stats[0]["ready"] is False
    assert stats[1]["status"] == "ready" and stats[1]["ready"] is True


async def test_an_easylang_bot_is_managed_and_calls_other_shards_through_the_manager(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(EZBOT, total_shards=2)
    await manager.spawn()
    assert "[shard 1] ez shard 1 ready" in reporter.text() or await wait_until(
        lambda: "[shard 1] ez shard 1 ready" in reporter.text(), 5, "shard output"
    )
    channel = text_channel(sandbox, 1, 2)
    await sandbox.inject_message(channel, "!where")
    msgs = await sandbox.wait_for_bot_messages(channel, 1, timeout=10)
    assert msgs[0]["content"] == "shard 1 of 2"
    await sandbox.inject_message(channel, "!total")
    msgs = await sandbox.wait_for_bot_messages(channel, 2, timeout=10)
    assert msgs[1]["content"] == "total 40 over 2 shards, 2 stats"
    assert (await manager.fetch_client_values("guilds.cache.size")) == [
        len(sandbox.guilds_for_shard(i, 2)) for i in (0, 1)
    ]


async def test_an_easylang_shard_connects_to_the_managers_gateway_without_asking_again(
    sandbox: Sandbox, make_manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes: list[str] = []
    check = sandbox.rest_limiter.check

    def recording(route: str, *args: object) -> object:
        routes.append(route)
        return check(route, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sandbox.rest_limiter, "check", recording)
    manager, reporter = make_manager(EZBOT, total_shards=2)
    await manager.spawn()
    # Only the manager asked GET /gateway/bot; each shard just logged in and connected to
    # the URL it was given (and, with the sandbox's flag, kept the sandbox's short guild wait).
    assert routes.count("GET /gateway/bot") == 1
    assert routes.count("GET /users/@me") == 2
    assert (await manager.fetch_client_values("guilds.cache.size")) == [
        len(sandbox.guilds_for_shard(i, 2)) for i in (0, 1)
    ]


async def test_an_easylang_handler_stuck_in_while_true_is_killed_and_respawned(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(EZBOT, total_shards=2)
    await manager.spawn()
    shard = manager.shards[0]
    old_pid = shard.pid
    await sandbox.inject_message(text_channel(sandbox, 0, 2), "!block")
    await wait_until(
        lambda: shard.status == "ready" and shard.pid != old_pid, 30, "shard 0 respawned"
    )
    assert "no heartbeat" in reporter.text()


def _run_ez(*args: str, env: dict[str, str] | None = None) -> asyncio.Future:  # type: ignore[type-arg]
    return asyncio.ensure_future(
        asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ezlang",
            "run",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
    )


async def test_the_manager_example_runs_against_a_sandbox(sandbox: Sandbox) -> None:
    proc = await _run_ez(
        str(EXAMPLES / "sharding" / "manager.ez"),
        "--api",
        sandbox.api_url,
        "ROUNDS=1",
        env={"DISCORD_TOKEN": sandbox.token},  # as the example says: never TOKEN=… (ps shows it)
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "All 1 shards are ready" in text  # 40 guilds: Discord's recommendation is 1 shard
    assert "total: 40 servers" in text
    assert "All shards stopped" in text
    assert sandbox.token not in text
    # stop_shards() announces the shutdown and its end (on stderr, merged here).
    stopping = text.index("[manager] stopping 1 shard…")
    assert re.search(r"\[manager\] all 1 shard stopped in \d+\.\d s", text[stopping:])


async def test_the_nine_worked_examples_run_end_to_end_with_sandbox() -> None:
    proc = await _run_ez(str(EXAMPLES / "sharding-example.ez"), "--sandbox")
    out, _ = await asyncio.wait_for(proc.communicate(), 110)
    text = out.decode()
    assert proc.returncode == 0, text
    for n in range(1, 10):
        assert f"\n{n}. " in "\n" + text, f"example {n} missing:\n{text}"
    assert "3. servers per shard: [2500, 2500] total: 5000" in text
    assert "6. ValueError: unknown property 'sizee'" in text
    assert "8. respawned shard 1: true" in text and "9. stopped: true" in text


async def test_sigterm_to_an_easylang_manager_stops_every_shard(sandbox: Sandbox) -> None:
    proc = await _run_ez(
        str(EXAMPLES / "sharding" / "manager.ez"), "--api", sandbox.api_url,
        env={"DISCORD_TOKEN": sandbox.token},
    )  # fmt: skip
    assert proc.stdout is not None
    seen = ""
    while "total: 40 servers" not in seen:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        assert line, seen
        seen += line.decode()
    pids = [
        p.pid
        for p in psutil.Process(proc.pid).children(recursive=True)
        if "ezlang.sharding" in " ".join(p.cmdline())
    ]
    assert pids
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert time.monotonic() - started < 10
    assert proc.returncode == 0
    assert re.search(r"\[manager\] all \d+ shards? stopped in \d+\.\d s", out.decode())
    assert all(not psutil.pid_exists(p) or psutil.Process(p).status() == "zombie" for p in pids)


def test_examples_exist() -> None:
    assert Path(EXAMPLES / "sharding" / "bot.ez").is_file()


async def test_the_discordpy_example_bot_is_managed_like_an_ez_bot(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(EXAMPLES / "sharding" / "bot.py", total_shards=2)
    await manager.spawn()
    channel = text_channel(sandbox, 1, 2)
    await sandbox.inject_message(channel, "!ping")
    msgs = await sandbox.wait_for_bot_messages(channel, 1, timeout=10)
    assert msgs[0]["content"] == "Pong from shard 1 of 2"
    assert await manager.broadcast_eval("client.shard.ids") == [[0], [1]]
    await wait_until(lambda: "bot.py shard 0 ready" in reporter.text(), 5, "shard output")


async def test_an_easylang_bot_failing_at_start_names_its_error_and_position(
    sandbox: Sandbox, make_manager, tmp_path: Path
) -> None:
    bot = tmp_path / "failing.ez"
    bot.write_text('print("starting")\nlet settings = json_parse("{not json")\nbot_start()\n')
    manager, reporter = make_manager(bot, total_shards=1, max_restarts=1)
    with pytest.raises(EzError) as info:
        await manager.spawn()
    message = info.value.message
    assert "shard 0 (failed)" in message and "crashed 2 times" in message
    assert "exit code 1" in message and "json_parse" in message
    assert "failing.ez:2:16" in message  # the position of the error in the bot
    assert "failing.ez:2" in reporter.text()  # the shard's positioned EasyLang error
    assert reporter.text().count("[shard 0] starting") == 2
    assert identifies(sandbox) == []


async def test_manager_progress_goes_to_stderr_and_program_output_to_stdout(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "bot.ez").write_text('print("hello from a shard")\nbot_start()\n')
    (tmp_path / "manager.ez").write_text(
        'create_shard_manager("bot.ez", {total_shards: 1})\n'
        "spawn_shards()\n"
        'print("program output")\n'
        "stop_shards()\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ezlang", "run", str(tmp_path / "manager.ez"),
        "--api", sandbox.api_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DISCORD_TOKEN": sandbox.token},
    )  # fmt: skip
    out_b, err_b = await asyncio.wait_for(proc.communicate(), 90)
    out, err = out_b.decode(), err_b.decode()
    assert proc.returncode == 0, err
    # stdout: what the programs print (the shard's line forwarded with its prefix), nothing else.
    assert out.splitlines() == ["[shard 0] hello from a shard", "program output"], out
    assert "[manager] spawning 1 of 1 shards" in err and "[manager] all 1 shards ready" in err
    assert "Traceback" not in err
