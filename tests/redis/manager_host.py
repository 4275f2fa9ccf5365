"""One "host" of a multi-host bot for the tests: a real ShardManager with the ``redis`` option.

Run as its own process (``EZLANG_HOST_NAME`` names the host). It spawns its ``--shards`` of the
test bot against the sandbox, prints ``{"event": "spawned", ...}`` (or ``spawn_failed``), then
answers JSON commands read line by line from stdin — ``{"id", "cmd": "stats" | "eval" |
"fetch" | "respawn" | "send", "arg"}`` — with ``{"id", "ok", "result" | "error"}`` lines on stdout. It
stops its shards on SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.sharding.manager import ShardManager
from ezlang.sharding.progress import Reporter

PYBOT = Path(__file__).parent.parent / "sharding" / "bots" / "pybot.py"


def emit(**data: Any) -> None:
    print(json.dumps(data), flush=True)


async def run_command(m: ShardManager, cmd: dict[str, Any]) -> Any:
    name, arg = cmd.get("cmd"), cmd.get("arg")
    if name == "stats":
        return await m.stats()
    if name == "eval":
        return await m.broadcast_eval(arg)
    if name == "eval_one":
        return await m.broadcast_eval(arg["code"], shard=arg["shard"])
    if name == "fetch":
        return await m.fetch_client_values(arg)
    if name == "respawn":
        return await m.respawn_shard(arg)
    if name == "send":
        from ezlang.sharding import messaging

        return await messaging.manager_send(m, arg["shard"], arg["data"])
    raise EzError("ValueError", f"unknown command {name}")


async def main(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {
        "token": args.token,
        "api": args.api,
        "redis": args.redis,
        "heartbeat_interval": args.heartbeat,
        "heartbeat_timeout": 10,
        "spawn_timeout": 60,
        "eval_timeout": args.eval_timeout,
        "rest_global_rate": args.rest_rate,
        "shard_list": [int(x) for x in args.shards.split(",")],
    }
    if args.total:
        options["total_shards"] = args.total
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        return await serve(loop, stop, options, Path(args.bot))
    finally:
        # Python 3.11's loop.close() closes its self-pipe before it removes the signal
        # handlers: a SIGTERM in between prints "Exception ignored … BrokenPipeError".
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def serve(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, options: dict[str, Any], bot: Path
) -> int:
    try:
        m = ShardManager(bot, options, reporter=Reporter(progress=False))
        spawned = await m.spawn()
    except EzError as exc:
        emit(event="spawn_failed", kind=exc.kind, message=exc.message)
        return 1
    emit(event="spawned", shards=spawned, host=m.directory.host if m.directory else None)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def answer(cmd: dict[str, Any]) -> None:
        try:
            emit(id=cmd.get("id"), ok=True, result=await run_command(m, cmd))
        except EzError as exc:
            emit(id=cmd.get("id"), ok=False, error=f"{exc.kind}: {exc.message}")

    async def commands() -> None:
        while line := await reader.readline():
            asyncio.create_task(answer(json.loads(line)))
        stop.set()

    cmd_task = asyncio.create_task(commands())
    await stop.wait()
    cmd_task.cancel()
    await m.stop()
    return 0


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    for name in ("redis", "api", "token", "shards"):
        ap.add_argument(f"--{name}", required=True)
    ap.add_argument("--total", type=int, default=0)
    ap.add_argument("--heartbeat", type=float, default=0.5)
    ap.add_argument("--bot", default=str(PYBOT))
    ap.add_argument("--eval-timeout", type=float, default=3)
    ap.add_argument("--rest-rate", type=int, default=50)
    sys.exit(asyncio.run(main(ap.parse_args())))
