"""A join storm through an EasyLang ``guildMemberAdd`` handler (rerun: ``python bench/join_storm_bench.py``).

* throughput: member joins per second the bot's handler runs, 10,000 members joining one
  guild on one shard as fast as the sandbox can dispatch them (target ≥ 2,000/s);
* memory: the bot process's RSS before and after the storm (discord.py caches every member
  it is told about, as it must for ``guildMemberUpdate``'s ``old``).

Setup: the sandbox runs in this process and makes the members join with its Python helper
(``sb.server.add_member``, what ``POST {control}/members`` does without the HTTP hop); the
bot is a real ``ezlang run`` process on the real discord.py client, one shard, with the
``members`` intent. The time is from the first join to the handler's print of the last one.

Writes the figures to ``bench/RESULTS-events.md`` between its GENERATED markers
(``--no-write`` to only print them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from results import write_generated

from ezlang.sandbox import Sandbox

HERE = Path(__file__).parent
RESULTS = HERE / "RESULTS-events.md"

BOT = """\
set_intents(["guilds", "members"])
let count = 0
let total = {total}
on_ready(func(client) {{ print("ready") }})
listen("guildMemberAdd", func(member) {{
    count = count + 1
    if count == total {{ print("done " + member.id) }}
}})
bot_start()
"""


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _wait_line(proc: asyncio.subprocess.Process, prefix: str, timeout: float) -> str:
    assert proc.stdout is not None
    async with asyncio.timeout(timeout):
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                raise RuntimeError(f"the bot exited before printing {prefix!r}")
            line = raw.decode().strip()
            if line.startswith(prefix):
                return line


async def storm(members: int) -> dict[str, float]:
    """One storm of ``members`` joins; returns ``{seconds, per_second, rss_before_mb, …}``."""
    async with Sandbox(guilds=1, identify_window=0.5, seed=7) as sb:
        # The pool of users who may join: enough for the storm (a bench-only knob).
        sb.world.user_pool = max(sb.world.user_pool, members + 100)
        gid = sb.world.guild_id(0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bot.ez"
            path.write_text(BOT.format(total=members))
            env = dict(os.environ, EZLANG_NO_CACHE="1", DISCORD_TOKEN=sb.token)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ezlang", "run", str(path), "--api", sb.api_url,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env,
            )  # fmt: skip
            try:
                await _wait_line(proc, "ready", 60.0)
                before = _rss_kb(proc.pid)
                state = sb.server.view(gid)
                taken = set(state.members) if state is not None else set()
                free = (u for u in map(sb.world.user_id, range(sb.world.user_pool)))
                joiners = [u for u in free if u not in taken][:members]
                assert len(joiners) == members, "not enough pool users"
                t0 = time.perf_counter()
                for i, uid in enumerate(joiners):
                    sb.server.add_member(gid, uid)
                    if i % 500 == 499:
                        await asyncio.sleep(0)  # let the gateway writer send
                await _wait_line(proc, "done", 120.0)
                seconds = time.perf_counter() - t0
                after = _rss_kb(proc.pid)
            finally:
                if proc.returncode is None:
                    proc.terminate()
                await proc.wait()
    return {
        "members": members,
        "seconds": seconds,
        "per_second": members / seconds,
        "rss_before_mb": before / 1024,
        "rss_after_mb": after / 1024,
        "rss_growth_kb_per_member": (after - before) / members,
    }


def report(rounds: list[dict[str, float]]) -> str:
    best = max(rounds, key=lambda r: r["per_second"])
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} cores (shared with other work); "
        f"{len(rounds)} rounds, best shown; every round listed.",
        "",
        "| members | seconds | joins handled/s | bot RSS before → after | growth per member |",
        "|---|---|---|---|---|",
    ]
    for r in rounds:
        lines.append(
            f"| {r['members']:,} | {r['seconds']:.2f} | {r['per_second']:,.0f} | "
            f"{r['rss_before_mb']:.1f} MB → {r['rss_after_mb']:.1f} MB | "
            f"{r['rss_growth_kb_per_member']:.2f} KB |"
        )
    target = "met" if best["per_second"] >= 2000 else "MISSED"
    lines += ["", f"Target ≥ 2,000 joins/s through the EasyLang handler: {target}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rounds = [asyncio.run(storm(args.members)) for _ in range(args.rounds)]
    text = report(rounds)
    print(text)
    if not args.no_write:
        write_generated(
            RESULTS, text, script="bench/join_storm_bench.py", title="Join storm benchmark"
        )


if __name__ == "__main__":
    main()
