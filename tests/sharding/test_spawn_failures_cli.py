"""A manager script whose spawn fails before any shard starts, run as a user runs it
(``ezlang run manager.ez``): exit code 1 and one clear EasyLang error, no Python noise."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from ezlang.sandbox import Sandbox

from .conftest import HERE, identifies

pytestmark = pytest.mark.timeout(90)

MANAGER = """\
let manager = create_shard_manager("bot.ez", {total_shards: 2})
spawn_shards()
print("spawned")
stop_shards()
"""

#: What a Python-level failure looks like on stderr; none of it may reach the user.
NOISE = ("Traceback", "never retrieved", "Exception ignored", "Task was destroyed")


async def run_manager(tmp_path: Path, api: str, token: str) -> tuple[int, str, str]:
    (tmp_path / "manager.ez").write_text(MANAGER, encoding="utf-8")
    shutil.copy(HERE / "bots" / "bot.ez", tmp_path / "bot.ez")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ezlang",
        "run",
        str(tmp_path / "manager.ez"),
        "--api",
        api,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DISCORD_TOKEN": token},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def assert_one_clear_error(code: int, out: str, err: str, expected: str) -> None:
    assert code == 1, err
    assert "spawned" not in out
    first = err.splitlines()[0]
    assert first.startswith("ShardingError: ") and expected in first, err
    assert "manager.ez:2:1" in err  # the spawn_shards() call
    for noise in NOISE:
        assert noise not in err, err


async def test_a_wrong_token_fails_spawn_with_one_clear_error_and_no_python_noise(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    code, out, err = await run_manager(tmp_path, sandbox.api_url, "definitely-wrong")
    assert_one_clear_error(code, out, err, "Discord rejected the bot token (401 Unauthorized)")
    assert "definitely-wrong" not in err
    assert identifies(sandbox) == []


async def test_a_too_small_session_budget_fails_spawn_with_one_clear_error_and_no_python_noise(
    tmp_path: Path,
) -> None:
    async with Sandbox(guilds=10, identify_window=0.1, session_start_total=1) as sb:
        code, out, err = await run_manager(tmp_path, sb.api_url, sb.token)
        assert identifies(sb) == []
    assert_one_clear_error(
        code, out, err, "Discord allows only 1 more session starts today and 2 shards need"
    )
