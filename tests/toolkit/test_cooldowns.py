"""Cooldowns: per user (default), guild, channel or everyone; in memory or shared in the database."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import Backend, child_env, ezlang

pytestmark = pytest.mark.timeout(120)


def _run(tmp_path: Path, source: str, env: dict[str, str] | None = None, name: str = "main.ez"):
    script = tmp_path / name
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    return ezlang("run", str(script), cwd=tmp_path, env=env)


def test_a_cooldown_lasts_its_duration_per_user_and_command(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """\
        print(is_on_cooldown("42", "daily"), get_cooldown_remaining("42", "daily"))
        add_cooldown("42", "daily", 0.5)
        let left = get_cooldown_remaining(42, "daily")
        print(is_on_cooldown(42, "daily"), left > 0.3 and left <= 0.5)
        print(is_on_cooldown("43", "daily"), is_on_cooldown("42", "weekly"))
        while is_on_cooldown("42", "daily") { wait(0.05) }
        print(get_cooldown_remaining("42", "daily"), get_user_cooldowns("42"))
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "false 0",
        "true true",
        "false false",
        "0 {}",
    ]
    assert res.stderr == ""


def test_scopes_guild_channel_and_global(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """\
        let g = {per: "guild", guild_id: "100"}
        add_cooldown("1", "meme", 60, g)
        print(is_on_cooldown("2", "meme", g), is_on_cooldown("2", "meme", {per: "guild", guild_id: "200"}))
        print(is_on_cooldown("1", "meme"))
        add_cooldown(null, "ask", 60, {per: "channel", channel_id: 7})
        print(is_on_cooldown("9", "ask", {per: "channel", channel_id: "7"}))
        add_cooldown(null, "event", 60, {per: "global"})
        print(is_on_cooldown("anyone", "event", {per: "global"}), is_on_cooldown("anyone", "event"))
        print(reset_cooldown(null, "event", {per: "global"}), reset_cooldown(null, "event", {per: "global"}))
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "true false",
        "false",
        "true",
        "true false",
        "true false",
    ]


def test_listing_resetting_and_stats(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """\
        add_cooldown("42", "daily", 3600)
        add_cooldown("42", "rob", 60)
        add_cooldown("a:b", "rob", 60)
        add_cooldown(null, "meme", 60, {per: "guild", guild_id: "100"})
        let mine = get_user_cooldowns("42")
        print(keys(mine), mine.daily > 3599, mine.rob <= 60)
        print(keys(get_user_cooldowns("a:b")))
        is_on_cooldown("42", "rob")
        is_on_cooldown("42", "kick")
        let s = get_cooldown_stats()
        print(s.active, s.by_command, s.by_scope, s.added, s.checks, s.hits)
        print(reset_all_cooldowns("42"), get_user_cooldowns("42"), is_on_cooldown("a:b", "rob"))
        print(clear_all_cooldowns(), get_cooldown_stats().active, clear_all_cooldowns())
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        '["daily", "rob"] true true',
        '["rob"]',
        '4 {"daily": 1, "meme": 1, "rob": 2} {"user": 3, "guild": 1, "channel": 0, "global": 0} 4 2 1',
        "2 {} true",
        "2 0 0",
    ]


@pytest.mark.parametrize(
    ("source", "kind", "words"),
    [
        ('add_cooldown("1", "daily")', "TypeError", "a number of seconds as its third argument, got nothing"),
        ('add_cooldown("1", "daily", -1)', "ValueError", "cannot be negative"),
        ('add_cooldown(null, "daily", 5)', "TypeError", "user id as its first argument"),
        ('add_cooldown("1", 5, 5)', "TypeError", "the command name"),
        ('add_cooldown("1", "x", 5, {per: "server"})', "ValueError", "the per option must be one of"),
        ('add_cooldown("1", "x", 5, {per: "guild"})', "ValueError", "needs the guild_id option"),
        ('is_on_cooldown("1", "x", {scope: "user"})', "ValueError", "unknown option 'scope'"),
        ('is_on_cooldown("1", "x", {shared: "yes"})', "TypeError", "true or false"),
        ('get_user_cooldowns([])', "TypeError", "got array"),
    ],
)  # fmt: skip
def test_mistakes_are_positioned_easylang_errors(
    tmp_path: Path, source: str, kind: str, words: str
) -> None:
    res = _run(tmp_path, f"print(1)\nlet x = {source}\n")
    assert res.returncode == 1
    assert res.stdout == "1\n"
    assert res.stderr.startswith(f"{kind}: ")
    assert words in res.stderr
    assert "main.ez:2:9" in res.stderr
    assert "Traceback" not in res.stderr


def test_shared_cooldowns_are_seen_by_other_processes(tmp_path: Path, backend: Backend) -> None:
    first = _run(
        tmp_path,
        """\
        add_cooldown("42", "daily", 60, {shared: true})
        add_cooldown(null, "event", 60, {per: "global", once_per_bot: true})
        add_cooldown("42", "local", 60)
        print(is_on_cooldown("42", "daily", {shared: true}), is_on_cooldown("42", "daily"))
        """,
        env=backend.env,
        name="first.ez",
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == "true false\n"
    second = _run(
        tmp_path,
        """\
        let shared = {shared: true}
        print(is_on_cooldown("42", "daily", shared), is_on_cooldown("42", "local"))
        print(is_on_cooldown(null, "event", {per: "global", shared: true}))
        let left = get_cooldown_remaining("42", "daily", shared)
        print(left > 50 and left <= 60, keys(get_user_cooldowns("42", shared)))
        print(get_cooldown_stats(shared).active, get_cooldown_stats().active)
        print(reset_all_cooldowns("42", shared), is_on_cooldown(null, "event", {per: "global", shared: true}))
        add_cooldown("7", "short", 0.2, shared)
        while is_on_cooldown("7", "short", shared) { wait(0.05) }
        print(clear_all_cooldowns(shared), get_cooldown_stats(shared).active)
        """,
        env=backend.env,
        name="second.ez",
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "true false",
        "true",
        'true ["daily"]',
        "2 0",
        "1 true",
        "1 0",
    ]


SHARDS = 3

SHARDED_MANAGER = f"""\
let manager = create_shard_manager("bot.ez", {{total_shards: {SHARDS}}})
spawn_shards()
add_cooldown(null, "giveaway", 60, {{per: "global", shared: true}})
add_cooldown(null, "giveaway", 60, {{per: "global"}})
print(json_stringify(broadcast_eval("return is_on_cooldown(null, \\"giveaway\\", {{per: \\"global\\", shared: true}})")))
print(json_stringify(broadcast_eval("return is_on_cooldown(null, \\"giveaway\\", {{per: \\"global\\"}})")))
broadcast_eval("add_cooldown(\\"5\\", \\"roll\\", 60, {{shared: true}})", {{shard: 1}})
print(is_on_cooldown("5", "roll", {{shared: true}}), get_cooldown_stats({{shared: true}}).active)
stop_shards()
"""


async def test_a_shared_cooldown_holds_in_every_shard(tmp_path: Path, backend: Backend) -> None:
    from ezlang.sandbox import Sandbox

    (tmp_path / "bot.ez").write_text("bot_start()\n", encoding="utf-8")
    (tmp_path / "manager.ez").write_text(SHARDED_MANAGER, encoding="utf-8")
    env = dict(backend.env)
    env.pop("EZLANG_DB", None)
    async with Sandbox(guilds=SHARDS, max_concurrency=SHARDS, identify_window=0.5) as sb:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ezlang", "run", "manager.ez", "--api", sb.api_url,
            cwd=tmp_path, env=child_env({**env, "DISCORD_TOKEN": sb.token}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 100)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    lines = out.decode().splitlines()[-3:]
    assert json.loads(lines[0]) == [True] * SHARDS
    assert json.loads(lines[1]) == [False] * SHARDS  # memory cooldowns stay in their process
    assert lines[2] == "true 2"
    assert "Traceback" not in stderr
