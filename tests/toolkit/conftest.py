"""Fixtures for the database tests: ``ezlang`` as a child process, and both backends.

``backend`` is parametrized: every test that takes it runs once against an SQLite file in the
test's temporary directory and once against a real ``redis-server`` (the fixture class of
``tests/redis/conftest.py``, started on a free loopback port and killed after the test).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
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
