"""Fixtures for the shard manager tests: a sandbox with short windows, managers that always
stop, and a check that no shard process outlives its test."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

HERE = Path(__file__).parent
PYBOT = HERE / "bots" / "pybot.py"
JS_BOT = HERE / "bots" / "js" / "bot.js"  # a discord.js bot: runs in the discordjs_dir folder
REPO = HERE.parents[1]
EXAMPLES = REPO / "examples" / "sharding"
WINDOW = 0.25

#: Short timings so supervision is observable in seconds, not minutes.
FAST = {
    "heartbeat_interval": 0.5,
    "heartbeat_timeout": 2.5,
    "spawn_timeout": 20,
    "eval_timeout": 3,
}


class CapturingReporter(Reporter):
    """Keeps every line the manager prints (shard output and notices)."""

    def __init__(self) -> None:
        super().__init__(progress=False)
        self.lines: list[str] = []

    def _emit(self, text: str, out: Any) -> None:
        self.lines.append(text)

    def problem(self, message: str, **where: Any) -> None:
        self.lines.append(f"[manager] {message}")

    def text(self) -> str:
        return "\n".join(self.lines)


#: What the command line of a shard process (or zygote) contains: Python shards, and Node
#: shards of .js bots (which load ezlang's preload).
SHARD_MARKS = ("ezlang.sharding.shard_main", "ezlang.sharding.zygote", "sharding/js/preload.js")


def shard_processes() -> list[psutil.Process]:
    """Live shard processes (and zygotes) started by this test process."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
            if any(mark in cmdline for mark in SHARD_MARKS):
                if child.status() != psutil.STATUS_ZOMBIE:
                    out.append(child)
        except psutil.Error:
            pass
    return out


async def run_ez_script(script: Path, sb: Sandbox) -> tuple[int | None, str, str]:
    """Run an EasyLang manager script against sandbox ``sb``: ``(exit code, stdout, stderr)``."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ezlang", "run", str(script), "--api", sb.api_url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DISCORD_TOKEN": sb.token},
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    return proc.returncode, out.decode(), err.decode()


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``predicate`` until truthy, failing the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture(autouse=True)
def no_stray_processes() -> Any:
    yield
    deadline = time.monotonic() + 10
    while shard_processes() and time.monotonic() < deadline:
        time.sleep(0.1)
    strays = shard_processes()
    for p in strays:
        p.kill()
    assert not strays, f"stray shard processes left behind: {[p.pid for p in strays]}"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(guilds=40, max_concurrency=1, identify_window=WINDOW) as sb:
        yield sb
        assert sb.state()["identify_violations"] == 0


@pytest.fixture
async def make_manager(
    sandbox: Sandbox,
) -> AsyncIterator[Callable[..., tuple[ShardManager, CapturingReporter]]]:
    made: list[ShardManager] = []

    def make(bot: Path = PYBOT, **options: Any) -> tuple[ShardManager, CapturingReporter]:
        reporter = CapturingReporter()
        opts = {"token": sandbox.token, "api": sandbox.api_url, **FAST, **options}
        manager = ShardManager(bot, opts, reporter=reporter)
        made.append(manager)
        return manager, reporter

    yield make
    for manager in made:
        await asyncio.wait_for(manager.stop(), 30)


@pytest.fixture
def bot_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set EZTEST_* variables the test bot reads (children inherit the environment)."""

    def set_env(**values: Any) -> None:
        for key, value in values.items():
            monkeypatch.setenv(f"EZTEST_{key.upper()}", str(value))

    for key in list(os.environ):
        if key.startswith("EZTEST_"):
            monkeypatch.delenv(key)
    return set_env


def record_statuses(manager: ShardManager) -> list[str]:
    """From now on, every status change of ``manager``'s shards as ``"1:ready"``, in order."""
    seen: list[str] = []
    original = manager.shard_status_changed

    def record(shard_id: int, status: str, pid: int | None) -> None:
        seen.append(f"{shard_id}:{status}")
        original(shard_id, status, pid)

    manager.shard_status_changed = record  # type: ignore[method-assign]
    return seen


def identifies(sb: Sandbox, shard_id: int | None = None) -> list[dict[str, Any]]:
    rows = sb.state()["identifies"]
    return [r for r in rows if shard_id is None or r["shard"][0] == shard_id]


def text_channel(sb: Sandbox, shard_id: int, shard_count: int) -> str:
    return sb.guilds_for_shard(shard_id, shard_count)[0]["text_channel_ids"][0]


def client_closes(sb: Sandbox) -> dict[int | None, list[int]]:
    """Close codes the shards' clients sent, by shard id (the sandbox's close log)."""
    out: dict[int, list[int]] = {}
    for row in sb.state()["closes"]:
        if row["by"] == "client":
            # A connection closed before it identified or resumed has no shard: key None.
            shard = row["shard"][0] if row["shard"] else None
            out.setdefault(shard, []).append(row["code"])
    return out


@pytest.fixture(scope="session")
def discordjs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with discord.js installed (the version pinned for the benchmark) and the test
    bots in it, so ``require('discord.js')`` finds it as it would next to a real bot."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip(
            "Node.js and npm are needed for the discord.js shard tests (apt-get install nodejs npm)"
        )
    version = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
    if int(version.strip().lstrip("v").split(".")[0] or 0) < 18:
        pytest.skip(f"discord.js 14 needs Node.js 18 or newer; this machine has {version.strip()}")
    folder = tmp_path_factory.mktemp("discordjs")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(REPO / "bench" / "discordjs" / name, folder / name)
    install = subprocess.run(
        ["npm", "ci", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, f"npm ci failed:\n{install.stdout}\n{install.stderr}"
    shutil.copy(JS_BOT, folder / "bot.js")
    (folder / "example").mkdir()  # Node finds discord.js in the folder above, as npm users do
    for name in ("bot.js", "manager-js.ez"):
        shutil.copy(EXAMPLES / name, folder / "example" / name)
    return folder
