"""``ezlang run`` as a real child process for the end-to-end tests (the ``ezlang_run`` fixture)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import DEADLINE, wait_until


class EzProcess:
    """An ``ezlang run`` child process whose output lines are collected as they arrive."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out: list[str] = []
        self.err: list[str] = []
        assert proc.stdout is not None and proc.stderr is not None
        self._readers = [
            asyncio.create_task(self._pump(proc.stdout, self.out)),
            asyncio.create_task(self._pump(proc.stderr, self.err)),
        ]

    @staticmethod
    async def _pump(stream: asyncio.StreamReader, into: list[str]) -> None:
        while line := await stream.readline():
            into.append(line.decode(errors="replace").rstrip("\n"))

    @property
    def stdout(self) -> str:
        return "\n".join(self.out)

    @property
    def stderr(self) -> str:
        return "\n".join(self.err)

    async def wait_line(
        self, pattern: str, *, stream: str = "out", timeout: float = DEADLINE
    ) -> str:
        lines = self.out if stream == "out" else self.err
        regex = re.compile(pattern)

        def found() -> str | None:
            for line in lines:
                if regex.search(line):
                    return line
            if self.proc.returncode is not None:
                raise AssertionError(
                    f"process exited ({self.proc.returncode}) before {pattern!r}:\n"
                    f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
                )
            return None

        return await wait_until(found, timeout, what=f"{pattern!r} on std{stream}")

    async def wait_exit(self, timeout: float = DEADLINE) -> int:
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        await asyncio.gather(*self._readers)
        return code

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


@pytest.fixture
async def ezlang_run(tmp_path: Path) -> AsyncIterator[Any]:
    started: list[EzProcess] = []

    async def run(program: str | Path, *args: str, env: dict[str, str] | None = None) -> EzProcess:
        if isinstance(program, str):
            path = tmp_path / "bot.ez"
            path.write_text(program)
        else:
            path = program
        full_env = {k: v for k, v in os.environ.items() if k not in ("DISCORD_TOKEN", "TOKEN")}
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ezlang", "run", str(path), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=full_env,
        )  # fmt: skip
        p = EzProcess(proc)
        started.append(p)
        return p

    yield run
    for p in started:
        await p.kill()


def sandbox_args(sandbox: Any) -> list[str]:
    return ["--api", sandbox.api_url, f"TOKEN={sandbox.token}"]
