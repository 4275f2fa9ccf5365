"""Two ShardManagers as separate processes ("hosts") sharing one bot through Redis.

8 shards split 4/4 with ``shard_list``, the real test bot on the sandbox, one real redis-server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

pytestmark = pytest.mark.timeout(150)

HOST_SCRIPT = Path(__file__).with_name("manager_host.py")
PYBOT = HOST_SCRIPT.parent.parent / "sharding" / "bots" / "pybot.py"
WINDOW = 0.5
HEARTBEAT = 0.5  # the directory TTL is 3 heartbeats: 1.5 s
TTL = 3 * HEARTBEAT
GUILDS = 80


class ManagerHost:
    """A manager_host.py process: spawn, then answer commands over stdin/stdout."""

    def __init__(self, name: str, shards: list[int], bot: Path = PYBOT) -> None:
        self.name = name
        self.shards = shards
        self.bot = bot
        #: Lines on stdout that are not JSON: the shards' own output.
        self.output: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.spawned: asyncio.Future[dict[str, Any]] | None = None
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None
        self._err_reader: asyncio.Task[None] | None = None
        #: Every line the host wrote on stderr (also echoed to the test's stderr).
        self.stderr: list[str] = []

    async def start(
        self,
        sb: Sandbox,
        redis_url: str,
        total: int = 8,
        prefix: tuple[str, ...] = (),
        extra: tuple[str, ...] = (),
    ) -> None:
        """Start the host; ``prefix`` runs it under e.g. ``ip netns exec NAME``; ``extra``: more
        manager_host.py arguments."""
        env = {**os.environ, "EZLANG_HOST_NAME": self.name}
        env.pop("EZLANG_REDIS_TTL", None)
        self.spawned = asyncio.get_running_loop().create_future()
        self.proc = await asyncio.create_subprocess_exec(
            *prefix, sys.executable, str(HOST_SCRIPT), "--redis", redis_url, "--api", sb.api_url,
            "--token", sb.token, "--shards", ",".join(map(str, self.shards)),
            "--total", str(total), "--heartbeat", str(HEARTBEAT), "--bot", str(self.bot), *extra,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        self._err_reader = asyncio.create_task(self._read_stderr())

    async def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.stderr.append(line)
            print(f"[{self.name}] {line}", file=sys.stderr)

    def stderr_text(self) -> str:
        return "\n".join(self.stderr)

    def assert_no_python_noise(self) -> None:
        """The host's stderr has no traceback and no "exception was never retrieved"."""
        text = self.stderr_text()
        assert "Traceback" not in text and "never retrieved" not in text, text

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                self.output.append(raw.decode(errors="replace").rstrip("\n"))
                continue  # shard output forwarded by the manager
            if not isinstance(msg, dict):
                continue
            if msg.get("event") in ("spawned", "spawn_failed"):
                assert self.spawned is not None
                if not self.spawned.done():
                    self.spawned.set_result(msg)
            elif msg.get("id") in self._replies:
                self._replies.pop(msg["id"]).set_result(msg)
        assert self.spawned is not None
        if not self.spawned.done():
            self.spawned.set_result({"event": "exited"})

    async def wait_spawned(self, timeout: float = 90) -> dict[str, Any]:
        assert self.spawned is not None
        msg = await asyncio.wait_for(asyncio.shield(self.spawned), timeout)
        assert msg["event"] == "spawned", msg
        return msg

    async def ask(self, cmd: str, arg: Any = None, timeout: float = 30) -> Any:
        assert self.proc is not None and self.proc.stdin is not None
        req_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._replies[req_id] = fut
        self.proc.stdin.write(json.dumps({"id": req_id, "cmd": cmd, "arg": arg}).encode() + b"\n")
        await self.proc.stdin.drain()
        reply = await asyncio.wait_for(fut, timeout)
        if not reply["ok"]:
            raise AssertionError(f"{self.name} {cmd}: {reply['error']}")
        return reply["result"]

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        for reader in (self._reader, self._err_reader):
            if reader is not None:
                await asyncio.wait_for(reader, 5)  # the pipes close when the host exits


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(guilds=GUILDS, max_concurrency=1, identify_window=WINDOW) as sb:
        yield sb


@pytest.fixture
async def hosts(sandbox: Sandbox, redis_server) -> AsyncIterator[list[ManagerHost]]:
    procs = [ManagerHost("host-a", [0, 1, 2, 3]), ManagerHost("host-b", [4, 5, 6, 7])]
    try:
        for p in procs:
            await p.start(sandbox, redis_server.url)
        yield procs
    finally:
        await asyncio.gather(*(p.stop() for p in procs))


def identify_log(sb: Sandbox) -> str:
    """The sandbox's IDENTIFY record, for a failure message."""
    rows = sb.state()["identifies"]
    t0 = rows[0]["at"] if rows else 0
    return "\n".join(
        f"{r['at'] - t0:8.3f} shard {r['shard'][0]} {'ok' if r['accepted'] else 'REFUSED'}"
        for r in rows
    )


def pids_gone(pids: list[int]) -> bool:
    return not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)


async def test_two_managers_4_4_cover_all_8_shards_from_either_host(
    sandbox: Sandbox, hosts: list[ManagerHost]
) -> None:
    a, b = hosts
    await asyncio.gather(a.wait_spawned(), b.wait_spawned())
    assert sandbox.identify_violations == 0
    for h in (a, b):
        deadline = time.monotonic() + 30
        while True:  # bounded poll: on a loaded machine the other host may answer late
            stats = await h.ask("stats")
            if all(s["ready"] and s["status"] == "ready" for s in stats):
                break
            assert time.monotonic() < deadline, stats
            await asyncio.sleep(0.2)
        assert [s["shard_id"] for s in stats] == list(range(8))
        assert [s["host"] for s in stats] == ["host-a"] * 4 + ["host-b"] * 4
        assert sum(s["guild_count"] for s in stats) == GUILDS
    assert sum(await a.ask("eval", "return client.guilds.cache.size")) == GUILDS
    assert sum(await b.ask("fetch", "guilds.cache.size")) == GUILDS
    before = {s["shard_id"]: s["pid"] for s in await b.ask("stats")}
    assert await a.ask("respawn", 6, timeout=60) is True  # routed to host-b
    after = {s["shard_id"]: s["pid"] for s in await a.ask("stats")}
    assert after[6] != before[6] and after[5] == before[5]
    assert sandbox.identify_violations == 0


async def test_a_killed_manager_shows_its_shards_unreachable_within_the_ttl(
    sandbox: Sandbox, hosts: list[ManagerHost]
) -> None:
    a, b = hosts
    await asyncio.gather(a.wait_spawned(), b.wait_spawned())
    b_pids = [s["pid"] for s in (await b.ask("stats"))[4:]]
    b.kill()
    t0 = time.monotonic()
    while True:
        stats = await a.ask("stats")
        if all(s["status"] == "unreachable" for s in stats[4:]):
            break
        assert time.monotonic() - t0 < TTL + 5, stats
    assert [s["ready"] for s in stats] == [True] * 4 + [False] * 4
    assert all(s["host"] == "host-b" for s in stats[4:])
    with pytest.raises(AssertionError, match="shard 4"):
        await a.ask("eval", "return client.guilds.cache.size")  # an error naming the shard
    # The dead manager's shards notice the broken IPC and exit.
    deadline = time.monotonic() + 15
    while not pids_gone(b_pids):
        assert time.monotonic() < deadline, "host-b's shards outlived their manager"
        await asyncio.sleep(0.1)


async def test_redis_restart_during_spawn_recovers_with_no_identify_violation(
    sandbox: Sandbox, redis_server, hosts: list[ManagerHost]
) -> None:
    deadline = time.monotonic() + 60
    while sum(1 for r in sandbox.limiter.records if r.accepted) < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    redis_server.stop()
    await asyncio.sleep(0.3)  # down for a moment: IDENTIFYs must wait, shards keep running
    redis_server.start()
    a, b = hosts
    await asyncio.gather(a.wait_spawned(120), b.wait_spawned(120))
    assert sandbox.identify_violations == 0, identify_log(sandbox)
    deadline = time.monotonic() + 20
    while True:  # both hosts republish their shards into the empty Redis
        stats = await a.ask("stats")
        if all(s["ready"] for s in stats):
            break
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.1)
    assert sum(await b.ask("eval", "return client.guilds.cache.size")) == GUILDS
    assert sandbox.identify_violations == 0


async def test_redis_down_mid_run_keeps_local_shards_and_calls_working_then_recovers(
    sandbox: Sandbox, redis_server, hosts: list[ManagerHost]
) -> None:
    a, b = hosts
    await asyncio.gather(a.wait_spawned(), b.wait_spawned())
    redis_server.stop()
    t0 = time.monotonic()
    stats = await a.ask("stats")
    assert time.monotonic() - t0 < 10  # remote shards give up within the stats timeout
    assert [s["shard_id"] for s in stats] == list(range(8))
    assert all(s["ready"] and s["host"] == "host-a" for s in stats[:4])
    assert all(
        s["status"] == "unreachable" and s["host"] == "host-b" and "Redis" in s["error"]
        for s in stats[4:]
    ), stats[4:]
    code = "return client.guilds.cache.size"
    assert isinstance(await a.ask("eval_one", {"code": code, "shard": 2}), int)  # local works
    with pytest.raises(AssertionError, match="shard 4.*Redis"):
        await a.ask("eval", code)  # a cross-host call fails naming the shard and the cause
    redis_server.start()
    deadline = time.monotonic() + 30
    while True:
        stats = await b.ask("stats")
        if all(s["ready"] for s in stats):
            break
        assert time.monotonic() < deadline, stats
        await asyncio.sleep(0.1)
    assert sum(await a.ask("eval", code)) == GUILDS
    assert sandbox.identify_violations == 0


async def test_a_third_manager_with_conflicting_settings_is_refused(
    sandbox: Sandbox, redis_server, hosts: list[ManagerHost]
) -> None:
    a, b = hosts
    await asyncio.gather(a.wait_spawned(), b.wait_spawned())
    base = {"token": sandbox.token, "api": sandbox.api_url, "redis": redis_server.url}
    conflicting = ShardManager(PYBOT, {**base, "total_shards": 4}, reporter=Reporter(False))
    with pytest.raises(EzError) as err:
        await conflicting.spawn()
    assert err.value.kind == "ShardingError"
    assert "total_shards 4 conflicts with total_shards 8" in err.value.message
    await conflicting.stop()
    taken = ShardManager(
        PYBOT, {**base, "total_shards": 8, "shard_list": [2]}, reporter=Reporter(False)
    )
    with pytest.raises(EzError) as err:
        await taken.spawn()
    assert "shard 2" in err.value.message and "'host-a'" in err.value.message
    await taken.stop()
    assert sandbox.identify_violations == 0


# --- hosts on separate network addresses ---------------------------------------------------------


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@contextlib.contextmanager
def two_namespaces() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A private bridge and two network namespaces (the "machines"), torn down afterwards.

    Yields the bridge address (where Redis and the sandbox listen) and, per namespace,
    ``(name, address)``. Only private addresses on virtual links: no traffic leaves the box.
    """
    tag = f"ez{os.getpid() % 100000}"
    net = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    bridge = f"{tag}br"
    spaces = [(f"{tag}a", f"{net}.2"), (f"{tag}b", f"{net}.3")]
    steps = [
        ("link", "add", bridge, "type", "bridge"),
        ("addr", "add", f"{net}.1/24", "dev", bridge),
        ("link", "set", bridge, "up"),
    ]
    for ns, addr in spaces:
        steps += [
            ("netns", "add", ns),
            ("link", "add", f"{ns}0", "type", "veth", "peer", "name", f"{ns}1"),
            ("link", "set", f"{ns}1", "netns", ns),
            ("link", "set", f"{ns}0", "master", bridge),
            ("link", "set", f"{ns}0", "up"),
            ("netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", f"{ns}1"),
            ("netns", "exec", ns, "ip", "link", "set", f"{ns}1", "up"),
            ("netns", "exec", ns, "ip", "link", "set", "lo", "up"),
        ]
    try:
        for step in steps:
            res = _ip(*step)
            if res.returncode != 0:
                pytest.skip(f"network namespaces unavailable: ip {' '.join(step)}: {res.stderr}")
        yield f"{net}.1", spaces
    finally:
        for ns, _addr in spaces:
            _ip("netns", "del", ns)  # removes the veth pair with it
        _ip("link", "del", bridge)


@pytest.mark.skipif(shutil.which("ip") is None or os.geteuid() != 0, reason="needs root and ip")
async def test_hosts_on_separate_network_namespaces_share_one_bot(make_redis_server) -> None:
    with two_namespaces() as (server_addr, spaces):
        redis = make_redis_server(extra_bind=server_addr)
        hosts = [ManagerHost("host-a", [0, 1, 2, 3]), ManagerHost("host-b", [4, 5, 6, 7])]
        try:
            async with Sandbox(
                guilds=GUILDS, max_concurrency=1, identify_window=WINDOW, host=server_addr
            ) as sb:
                url = f"redis://{server_addr}:{redis.port}/0"
                for h, (ns, _addr) in zip(hosts, spaces, strict=True):
                    await h.start(sb, url, prefix=("ip", "netns", "exec", ns))
                await asyncio.gather(*(h.wait_spawned() for h in hosts))
                deadline = time.monotonic() + 30
                while True:
                    stats = await hosts[0].ask("stats")
                    if all(s["ready"] for s in stats):
                        break
                    assert time.monotonic() < deadline, stats
                    await asyncio.sleep(0.2)
                assert [s["host"] for s in stats] == ["host-a"] * 4 + ["host-b"] * 4
                assert sum(await hosts[1].ask("eval", "return client.guilds.cache.size")) == GUILDS
                assert sb.identify_violations == 0
                # Redis really saw the two hosts from their own addresses.
                peers = await _redis_client_addresses(redis.port)
                assert {addr for _ns, addr in spaces} <= peers
                # Cut machine B off the network (no FIN, no RST: packets just vanish) …
                link_b = f"{spaces[1][0]}0"
                assert _ip("link", "set", link_b, "down").returncode == 0
                t0 = time.monotonic()
                while True:
                    stats = await hosts[0].ask("stats")
                    if all(s["status"] == "unreachable" for s in stats[4:]):
                        break
                    assert time.monotonic() - t0 < TTL + 8, stats
                assert all(s["ready"] for s in stats[:4])
                # … and back: B's heartbeat, shards and subscription recover by themselves.
                assert _ip("link", "set", link_b, "up").returncode == 0
                t1 = time.monotonic()
                while True:
                    stats = await hosts[0].ask("stats")
                    if all(s["ready"] for s in stats):
                        break
                    assert time.monotonic() - t1 < 45, stats
                    await asyncio.sleep(0.2)
                total = await hosts[0].ask("eval", "return client.guilds.cache.size")
                assert sum(total) == GUILDS
                assert sb.identify_violations == 0
                await asyncio.gather(*(h.stop() for h in hosts))
        finally:
            await asyncio.gather(*(h.stop() for h in hosts))
            redis.stop()


async def _redis_client_addresses(port: int) -> set[str]:
    from ezlang.sharding.redis.connection import connect

    r = connect(f"redis://127.0.0.1:{port}/0")
    try:
        clients = await r.client_list()
    finally:
        await r.aclose()
    return {c["addr"].rsplit(":", 1)[0] for c in clients}
