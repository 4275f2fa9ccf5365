"""The worked two-machine example of docs/SHARDING.md, run as written: two `ezlang run` managers.

Also: a `!totalstats` command in a shard of either machine answers for the whole bot.

The manager script is taken from the doc itself, so the doc cannot drift from what works.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ezlang.sandbox import Sandbox

pytestmark = pytest.mark.timeout(150)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "SHARDING.md"
BOT = ROOT / "examples" / "sharding" / "bot.ez"
GUILDS = 80


def manager_from_doc() -> str:
    """The ``` block of "Running on several machines" that starts with "// manager.ez"."""
    section = DOC.read_text().split("## Running on several machines", 1)[-1]
    blocks = re.findall(r"```\n(// manager\.ez.*?)```", section, flags=re.S)
    assert blocks, "docs/SHARDING.md lost its two-machine manager.ez example"
    return blocks[0]


async def read_until(proc: asyncio.subprocess.Process, lines: list[str], pattern: str) -> None:
    assert proc.stdout is not None
    while True:
        raw = await proc.stdout.readline()
        assert raw, f"manager exited before printing {pattern!r}:\n" + "\n".join(lines)
        lines.append(raw.decode(errors="replace").rstrip())
        if re.search(pattern, lines[-1]):
            return


@contextlib.asynccontextmanager
async def two_machines(
    sb: Sandbox, workdir: Path, redis_url: str, output: dict[str, list[str]]
) -> AsyncIterator[dict[str, asyncio.subprocess.Process]]:
    """The documented two machines: ``ezlang run manager.ez`` for shards 0–3 (machine-a) and
    4–7 (machine-b) on one Redis, each past its "servers on all machines" line. Their output
    (stdout and stderr) lands in ``output``; on the way out both get SIGTERM and are waited for.
    """
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        for name, first in (("machine-a", 0), ("machine-b", 4)):
            env = {
                **os.environ,
                "DISCORD_TOKEN": sb.token,
                "EZLANG_REDIS_URL": redis_url,
                "EZLANG_HOST_NAME": name,
            }
            procs[name] = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ezlang", "run", str(workdir / "manager.ez"),
                "--api", sb.api_url, f"FIRST={first}",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                env=env, cwd=workdir,
            )  # fmt: skip
        await asyncio.wait_for(
            asyncio.gather(
                *(read_until(p, output[n], r"^servers on all machines") for n, p in procs.items())
            ),
            120,
        )
        yield procs
    finally:
        for p in procs.values():
            if p.returncode is None:
                p.send_signal(signal.SIGTERM)
        for name, p in procs.items():
            try:
                rest, _ = await asyncio.wait_for(p.communicate(), 20)
                output[name] += rest.decode(errors="replace").splitlines()
            except TimeoutError:
                p.kill()
                await p.wait()


@pytest.mark.skipif(not BOT.exists(), reason="examples/sharding/bot.ez is not there")
async def test_the_documented_two_machine_example_runs(tmp_path: Path, redis_server) -> None:
    (tmp_path / "manager.ez").write_text(manager_from_doc())
    (tmp_path / "bot.ez").write_text(BOT.read_text())
    async with Sandbox(guilds=GUILDS, max_concurrency=1, identify_window=0.5) as sb:
        output: dict[str, list[str]] = {"machine-a": [], "machine-b": []}
        async with two_machines(sb, tmp_path, redis_server.url, output) as procs:
            # A command inside shard 1 (machine A) totals the whole bot through both managers.
            for shard_id in (1, 6):
                channel = sb.guilds_for_shard(shard_id, 8)[0]["text_channel_ids"][0]
                await sb.inject_message(channel, "!totalstats")
                replies = await asyncio.wait_for(sb.wait_for_bot_messages(channel, 1), 30)
                assert replies[0]["content"] == f"I am in {GUILDS} servers across 8 shards"
        for name, lines in output.items():
            first = 0 if name == "machine-a" else 4
            assert f"running shards {list(range(first, first + 4))} of 8" in lines
            table = [ln for ln in lines if re.match(r"^shard \d on machine-", ln)]
            assert [ln.split(":")[0] for ln in table] == [
                f"shard {i} on machine-{'a' if i < 4 else 'b'}" for i in range(8)
            ], lines
        totals = [ln for lines in output.values() for ln in lines if ln.startswith("servers on")]
        assert totals == [f"servers on all machines: {GUILDS}"] * 2, totals
        assert sb.identify_violations == 0
        assert all(p.returncode == 0 for p in procs.values()), [
            p.returncode for p in procs.values()
        ]
