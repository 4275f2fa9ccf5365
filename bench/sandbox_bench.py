"""Sandbox benchmarks: is the sandbox ever the bottleneck of a bot benchmark?

Run: ``python bench/sandbox_bench.py [--write]`` (``--write`` updates bench/RESULTS-sandbox.md).

Measures, with the receiving client in a separate process (so client and server do not
share one CPU-bound event loop, as in a real bot benchmark):

1. MESSAGE_CREATE throughput from ``/load`` to one connection (uncompressed, zlib-stream,
   zstd-stream): messages received per second by a raw websocket client.
2. IDENTIFY → READY + 1,000 GUILD_CREATE, cold (guild JSON not cached) and warm.
3. Building a 100,000-guild world and rendering one 1,000-guild shard of it.

Targets (issue 3): >= 20,000 MESSAGE_CREATE/s uncompressed; READY + 1,000 GUILD_CREATE
within 0.5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from results import write_generated

from ezlang.sandbox import Sandbox, World

RECEIVER = r"""
import asyncio, json, sys, time, zlib
import aiohttp
url, mode, task, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
async def main():
    params = {"v": "10", "encoding": "json"}
    if mode != "none":
        params["compress"] = mode
    dz = zlib.decompressobj() if mode == "zlib-stream" else None
    if mode == "zstd-stream":
        import zstandard
        ds = zstandard.ZstdDecompressor().decompressobj()
    buf = bytearray()
    def decode(data):
        if isinstance(data, str):
            return data
        if dz is not None:
            buf.extend(data)
            if not data.endswith(b"\x00\x00\xff\xff"):
                return None
            out = dz.decompress(bytes(buf)); buf.clear(); return out.decode()
        return ds.decompress(data).decode()
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url, params=params, max_msg_size=0) as ws:
            hello = json.loads(decode((await ws.receive()).data))
            async def beat():
                while True:
                    await asyncio.sleep(hello["d"]["heartbeat_interval"] / 1000)
                    await ws.send_str('{"op":1,"d":null}')
            hb = asyncio.create_task(beat())
            t_identify = time.time()
            await ws.send_str(json.dumps({"op": 2, "d": {"token": "sandbox-token", "intents": 33281,
                "properties": {"os": "linux", "browser": "bench", "device": "bench"}}}))
            guilds = ready_at = None
            count = 0
            while True:
                msg = await ws.receive()
                text = decode(msg.data)
                if text is None:
                    continue
                if task == "ready":
                    if ready_at is None and '"t":"READY"' in text[:40]:
                        ready_at = time.time()
                    elif '"t":"GUILD_CREATE"' in text[:40]:
                        count += 1
                        if count == n:
                            print(json.dumps({"identify": t_identify, "ready": ready_at, "last": time.time()}), flush=True)
                            break
                else:
                    if '"t":"GUILD_CREATE"' in text[:40]:
                        guilds = (guilds or 0) + 1
                        if guilds == 1:
                            print(json.dumps({"ready": True}), flush=True)
                    elif '"t":"MESSAGE_CREATE"' in text[:40]:
                        if count == 0:
                            first = time.time()
                        count += 1
                        if count == n:
                            json.loads(text)  # the payload is valid JSON
                            print(json.dumps({"first": first, "last": time.time(), "count": count}), flush=True)
                            break
            hb.cancel()
asyncio.run(main())
"""

FLEET = r"""
import asyncio, json, sys, time
import aiohttp
url, shards = sys.argv[1], int(sys.argv[2])
async def shard(session, sid, counts):
    async with session.ws_connect(url, params={"v": "10", "encoding": "json"}, max_msg_size=0) as ws:
        await ws.receive()
        await ws.send_str(json.dumps({"op": 2, "d": {"token": "sandbox-token", "intents": 1,
            "shard": [sid, shards], "properties": {"os": "l", "browser": "b", "device": "d"}}}))
        expected = None
        while True:
            text = (await ws.receive()).data
            if expected is None and '"t":"READY"' in text[:40]:
                expected = json.loads(text)["d"]["guilds"].__len__()
            elif '"t":"GUILD_CREATE"' in text[:40]:
                counts[sid] += 1
                if counts[sid] == expected:
                    break
        print(json.dumps({"shard": sid, "guilds": counts[sid]}), flush=True)
        await asyncio.Event().wait()  # stay connected until killed
async def main():
    counts = [0] * shards
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(shard(session, i, counts) for i in range(shards)))
asyncio.run(main())
"""


async def _receiver(sb: Sandbox, mode: str, task: str, n: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", RECEIVER, sb.gateway_url, mode, task, str(n),
        stdout=subprocess.PIPE,
    )  # fmt: skip


async def bench_throughput(mode: str, n: int = 100_000) -> dict[str, float]:
    """Messages/s one connection receives from /load (asked for far more than it can take)."""
    async with Sandbox(guilds=1, identify_window=0) as sb:
        proc = await _receiver(sb, mode, "load", n)
        assert proc.stdout is not None
        json.loads(await proc.stdout.readline())  # connected and READY
        t0 = time.time()
        sent = await sb.load(rate=1_000_000, seconds=n / 1_000_000)
        t_sent = time.time()
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        await proc.wait()
        got = json.loads(line)
        return {
            "sent": sent,
            "dispatch_per_s": sent / (t_sent - t0),
            "received_per_s": got["count"] / (got["last"] - t0),
        }


async def bench_ready(warm: bool) -> dict[str, float]:
    """IDENTIFY → READY and → 1,000th GUILD_CREATE, measured by the client."""
    async with Sandbox(guilds=1000, identify_window=0, prewarm=False) as sb:
        if warm:
            for i in range(1000):
                sb.world.guild_json(i)
        proc = await _receiver(sb, "zstd-stream", "ready", 1000)
        assert proc.stdout is not None
        got = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        await proc.wait()
        return {"ready_s": got["ready"] - got["identify"], "all_s": got["last"] - got["identify"]}


async def bench_fleet(guilds: int = 100_000, shards: int = 40) -> dict[str, float]:
    """A 100k-guild world with 40 shards of 2,500 guilds connected at once: time and RSS."""
    import psutil

    me = psutil.Process()
    rss0 = me.memory_info().rss
    async with Sandbox(guilds=guilds, max_concurrency=shards, identify_window=5.0) as sb:
        t0 = time.time()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FLEET, sb.gateway_url, str(shards), stdout=subprocess.PIPE
        )
        assert proc.stdout is not None
        total = 0
        try:
            for _ in range(shards):
                total += json.loads(await asyncio.wait_for(proc.stdout.readline(), 300))["guilds"]
            elapsed = time.time() - t0
            rss = me.memory_info().rss
            sessions = len(sb.gateway.sessions)
        finally:
            proc.kill()
            await proc.wait()
        return {
            "guilds": total,
            "sessions": sessions,
            "all_ready_s": elapsed,
            "rss_mb": rss / 1e6,
            "rss_growth_mb": (rss - rss0) / 1e6,
        }


def bench_world() -> dict[str, float]:
    """Build a 100k-guild world, render one shard of 1,000 guilds, and its memory."""
    t0 = time.perf_counter()
    world = World(100_000)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in world.guild_indices_for_shard(0, 100):
        world.guild_json(i)
    t_render = time.perf_counter() - t0
    # Memory separately: tracemalloc slows allocation-heavy code several times over.
    tracemalloc.start()
    world = World(100_000)
    for i in world.guild_indices_for_shard(0, 100):
        world.guild_json(i)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"build_s": t_build, "render_1000_s": t_render, "peak_mb": peak / 1e6}


async def main(write: bool) -> None:
    results: dict[str, object] = {}
    for mode in ("none", "zlib-stream", "zstd-stream"):
        results[f"throughput_{mode}"] = await bench_throughput(mode)
        print(mode, results[f"throughput_{mode}"], flush=True)
    results["ready_cold"] = await bench_ready(warm=False)
    print("ready cold", results["ready_cold"], flush=True)
    results["ready_warm"] = await bench_ready(warm=True)
    print("ready warm", results["ready_warm"], flush=True)
    results["world_100k"] = bench_world()
    print("world", results["world_100k"], flush=True)
    results["fleet"] = await bench_fleet()
    print("fleet", results["fleet"], flush=True)
    if write:
        _write(results)


def _write(r: dict[str, object]) -> None:
    def t(mode: str) -> dict[str, float]:
        return r[f"throughput_{mode}"]  # type: ignore[return-value]

    cold: dict[str, float] = r["ready_cold"]  # type: ignore[assignment]
    warm: dict[str, float] = r["ready_warm"]  # type: ignore[assignment]
    world: dict[str, float] = r["world_100k"]  # type: ignore[assignment]
    fleet: dict[str, float] = r["fleet"]  # type: ignore[assignment]
    lines = [
        "# Sandbox benchmark results",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()},"
        f" {os.cpu_count()} CPUs, Python {platform.python_version()},"
        f" load average {os.getloadavg()[0]:.1f} at the end (shared machine)"
        " (`python bench/sandbox_bench.py --write`). The receiving client is a raw aiohttp"
        " websocket in a separate process; all figures of one table come from one run.",
        "",
        "## MESSAGE_CREATE throughput to one connection (`/load`, 100,000 messages)",
        "",
        "| transport | dispatched by sandbox (msg/s) | received by client (msg/s) |",
        "|---|---|---|",
    ]
    for mode in ("none", "zlib-stream", "zstd-stream"):
        x = t(mode)
        lines.append(f"| {mode} | {x['dispatch_per_s']:,.0f} | {x['received_per_s']:,.0f} |")
    ratio = t("none")["received_per_s"] / 20_000
    lines += [
        "",
        f"Target: >= 20,000 msg/s uncompressed — measured {ratio:.1f}x the target.",
        "",
        "## IDENTIFY → READY + 1,000 GUILD_CREATE (zstd-stream, as discord.py asks)",
        "",
        "| guild JSON cache (`prewarm=False`; by default a started sandbox warms it) | READY after (s) | 1,000th GUILD_CREATE after (s) |",
        "|---|---|---|",
        f"| cold | {cold['ready_s']:.4f} | {cold['all_s']:.3f} |",
        f"| warm | {warm['ready_s']:.4f} | {warm['all_s']:.3f} |",
        "",
        "Target: within 0.5 s.",
        "",
        "## World of 100,000 guilds",
        "",
        f"- build: {world['build_s'] * 1000:.2f} ms (guilds are generated lazily from the seed)",
        f"- render the 1,000 guilds of one shard (of 100): {world['render_1000_s']:.3f} s",
        f"- peak traced memory (world + 1,000 cached guild JSONs): {world['peak_mb']:.1f} MB",
        f"- all 40 shards (2,500 guilds each, max_concurrency 40) connected at once:"
        f" {fleet['guilds']:,} GUILD_CREATE delivered in {fleet['all_ready_s']:.1f} s;"
        f" sandbox RSS {fleet['rss_mb']:.0f} MB (+{fleet['rss_growth_mb']:.0f} MB for the"
        " world, guild cache and 40 sessions with their replay buffers)",
        "",
    ]
    write_generated(
        Path(__file__).with_name("RESULTS-sandbox.md"),
        "\n".join(lines[2:]),
        script="bench/sandbox_bench.py",
        title=lines[0],
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS-sandbox.md")
    asyncio.run(main(ap.parse_args().write))
