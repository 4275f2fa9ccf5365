"""Fixtures for the database tests: ``ezlang`` as a child process, and both backends.

``backend`` is parametrized: every test that takes it runs once against an SQLite file in the
test's temporary directory and once against a real ``redis-server`` (the fixture class of
``tests/redis/conftest.py``, started on a free loopback port and killed after the test).
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TIMEOUT = 120
_CACHE_DIR = tempfile.mkdtemp(prefix="ezlang-db-cache-")
atexit.register(shutil.rmtree, _CACHE_DIR, True)

_spec = importlib.util.spec_from_file_location(
    "_redis_fixtures", Path(__file__).resolve().parents[1] / "redis" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_redis_fixtures: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_redis_fixtures)
RedisServer = _redis_fixtures.RedisServer
REDIS_SERVER = _redis_fixtures.REDIS_SERVER


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of an ``ezlang`` child: no database settings from the outside."""
    env = {k: v for k, v in os.environ.items() if k not in ("EZLANG_DB", "EZLANG_REDIS_URL")}
    env.update(PYTHONIOENCODING="utf-8", EZLANG_CACHE_DIR=_CACHE_DIR)
    env.update(extra or {})
    return env


def ezlang(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ezlang ARGS`` to completion and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "ezlang", *args],
        cwd=cwd,
        env=child_env(env),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT,
    )


@dataclass
class Backend:
    """One database backend as a program sees it: ``env`` selects it."""

    name: str
    env: dict[str, str]
    #: The arguments that point ``ezlang db`` at it.
    cli: list[str]
    #: The SQLite file (sqlite) or the server (redis).
    path: Path | None = None
    server: Any = None


def _start_redis(tmp_path: Path) -> Any:
    if not Path(REDIS_SERVER).exists():
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    for _attempt in range(3):  # the free port may be taken between probe and bind
        try:
            server.start()
            return server
        except RuntimeError:
            server.port = _redis_fixtures._free_port()
    pytest.fail("could not start redis-server")


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The SQLite backend (a file in tmp_path) or the Redis backend (a fresh redis-server)."""
    if request.param == "sqlite":
        path = tmp_path / "data" / "bot.db"
        path.parent.mkdir()
        yield Backend("sqlite", {"EZLANG_DB": str(path)}, ["--file", str(path)], path=path)
        return
    server = _start_redis(tmp_path)
    try:
        yield Backend(
            "redis", {"EZLANG_REDIS_URL": server.url}, ["--redis", server.url], server=server
        )
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A fresh redis-server for one test."""
    server = _start_redis(tmp_path)
    try:
        yield server
    finally:
        server.stop()


class ExampleBot:
    """An example bot run with ``ezlang run FILE --sandbox``, talked to like a user would.

    It reads the control URL and a channel from the sandbox's hint on stderr, says things in
    that channel and reads what the bot answered. ``async with`` stops it with SIGINT and
    checks it exited 0 without a Python traceback.
    """

    def __init__(self, example: Path, workdir: Path, deadline: float = 60.0) -> None:
        self.file = workdir / example.name
        shutil.copy(example, self.file)  # its ezlang.db then lands in workdir, not in examples/
        self.deadline = deadline
        self.err_lines: list[str] = []
        self.control = self.channel = ""
        self.proc: Any = None
        self.http: Any = None

    async def __aenter__(self) -> ExampleBot:
        import aiohttp

        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ezlang", "run", str(self.file), "--sandbox",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
        )  # fmt: skip
        try:
            while not self.control:
                line = (await asyncio.wait_for(self.proc.stderr.readline(), self.deadline)).decode()
                assert line, "the bot exited: " + "".join(self.err_lines)
                self.err_lines.append(line)
                m = re.search(r"curl -X POST (\S+)/messages -d '(.*)'", line)
                if m:
                    self.control = m.group(1)
                    self.channel = str(json.loads(m.group(2))["channel_id"])
        except BaseException:
            await self._stop()
            raise
        self.http = aiohttp.ClientSession()
        return self

    async def first_line(self) -> str:
        """The bot's first line on stdout (its ready line)."""
        return (await asyncio.wait_for(self.proc.stdout.readline(), self.deadline)).decode()

    async def say(self, content: str) -> None:
        body = {"channel_id": self.channel, "content": content}
        async with self.http.post(self.control + "/messages", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def bot_says(self) -> list[str]:
        """Everything the bot said in the channel so far, oldest first."""
        async with self.http.get(f"{self.control}/channels/{self.channel}/messages") as resp:
            messages = await resp.json(content_type=None)
        return [m["content"] for m in messages if m["author"].get("bot")]

    async def replies(self, n: int, what: str) -> list[str]:
        """Wait (within the deadline) until the bot said at least ``n`` things."""
        deadline = time.monotonic() + self.deadline
        while len(said := await self.bot_says()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)
        return said

    async def _stop(self) -> str:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        rest = await asyncio.wait_for(self.proc.stderr.read(), self.deadline)
        await asyncio.wait_for(self.proc.wait(), self.deadline)
        return rest.decode()

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()
        rest = await self._stop()
        if exc_type is None:  # else the test's own failure is the one to see
            assert self.proc.returncode == 0
            assert "Traceback" not in "".join(self.err_lines) + rest
