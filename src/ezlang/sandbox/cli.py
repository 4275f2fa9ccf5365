"""``ezlang sandbox``: run the local Discord from the command line.

The first stdout line is exactly ``SANDBOX_READY {json}`` (keys ``api``, ``gateway``,
``control``, ``token``) so scripts and other processes can wait for it and read the
URLs; a human summary follows (with how to send a message and see the bot's replies). The
activity log (connections, IDENTIFYs with their shard, messages in and out, reactions,
closes) goes to stderr, on by default when stderr is a terminal (``--log``/``--no-log``).
Runs until SIGINT/SIGTERM, then exits 0. Bad flag values print a clear error and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import TextIO

from .core import Sandbox, SandboxError
from .gateway import MAX_GUILDS_PER_SHARD, supported_compressions


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` can return 2 itself."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _pos_int(text: str) -> int:
    value = _nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _port(text: str) -> int:
    value = _nonneg_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (0-65535), got {value}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number 0 or more, got {text}")
    return value


def _pos_float(text: str) -> float:
    value = _nonneg_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _token(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The ``ezlang sandbox`` argument parser."""
    p = _Parser(
        prog="ezlang sandbox",
        description="Run a local Discord (gateway + REST + control API) for offline bots.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback)")
    p.add_argument("--port", type=_port, default=0, help="TCP port (0: any free port)")
    p.add_argument("--guilds", type=_nonneg_int, default=5000, help="guilds in the world")
    p.add_argument("--max-concurrency", type=_pos_int, default=1, help="IDENTIFY buckets")
    p.add_argument(
        "--identify-window", type=_nonneg_float, default=5.0, help="seconds per IDENTIFY bucket"
    )
    p.add_argument("--token", type=_token, default="sandbox-token", help="the bot token")
    p.add_argument("--seed", type=int, default=0, help="world seed (deterministic)")
    p.add_argument(
        "--heartbeat-interval", type=_pos_float, default=41.25, help="HELLO heartbeat interval (s)"
    )
    p.add_argument(
        "--resume-timeout",
        type=_pos_float,
        default=120.0,
        help="seconds a dropped session stays resumable (not after a close with 1000/1001)",
    )
    p.add_argument(
        "--replay-buffer",
        type=_pos_int,
        default=10_000,
        help="dispatches kept per session for RESUME (an older seq gets op 9)",
    )
    p.add_argument(
        "--no-privileged-intents",
        action="store_true",
        help="refuse privileged intents with close code 4014",
    )
    p.add_argument(
        "--guild-create-delay",
        type=_nonneg_float,
        default=0.0,
        metavar="MS",
        help="milliseconds between the GUILD_CREATEs after READY (default 0: all at once; "
        "Discord streams them)",
    )
    p.add_argument(
        "--no-rest-rate-limits", action="store_true", help="disable per-route REST rate limits"
    )
    p.add_argument(
        "--global-rate",
        type=_nonneg_int,
        default=50,
        metavar="N",
        help="REST requests per second allowed per bot token (default 50, Discord's; 0: off)",
    )
    p.add_argument(
        "--invalid-limit",
        type=_pos_int,
        default=10_000,
        metavar="N",
        help="401/403/429 answers per 10 minutes before the IP is refused (default 10000)",
    )
    p.add_argument(
        "--log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="log connections, IDENTIFYs, messages in and out on stderr "
        "(default: on when stderr is a terminal)",
    )
    return p


def first_text_channel(sb: Sandbox) -> str:
    """The id of the first text channel of the first guild (for the hint lines)."""
    world = sb.world
    if world.guild_count == 0:
        return "CHANNEL_ID"
    return str(world.text_channel_ids(world.guild_id(0))[0])


def how_to_talk(sb: Sandbox) -> list[str]:
    """The two commands a user needs: send a message as a user, read the bot's replies."""
    channel = first_text_channel(sb)
    return [
        f"send a message:        curl -X POST {sb.control_url}/messages "
        f'-d \'{{"channel_id": "{channel}", "content": "!ping"}}\'',
        f"see the bot's replies: curl {sb.control_url}/channels/{channel}/messages",
    ]


def _summary(sb: Sandbox, out: TextIO, logging: bool) -> None:
    w = sb.world
    print(f"ezlang sandbox - a local Discord on {sb.api_url.rsplit('/api', 1)[0]}", file=out)
    print(f"  world        {w.guild_count} guilds (seed {sb.seed})", file=out)
    print(f"  shards       {w.recommended_shards()} recommended (GET /gateway/bot)", file=out)
    print(f"  REST         {sb.api_url}", file=out)
    print(
        f"  gateway      {sb.gateway_url}  ({', '.join(supported_compressions())}, or none)",
        file=out,
    )
    print(f"  control      {sb.control_url}", file=out)
    print(f"  token        {sb.token}", file=out)
    print("  rules", file=out)
    print(
        f"    IDENTIFY   {sb.max_concurrency} per {sb.identify_window:g}s window "
        f"(bucket = shard_id % {sb.max_concurrency}); too early -> op 9 + violation",
        file=out,
    )
    print(f"    shards     at most {MAX_GUILDS_PER_SHARD} guilds per shard (else 4011)", file=out)
    pace = sb.gateway.guild_create_delay
    stream = f"one every {pace * 1000:g} ms" if pace > 0 else "all at once"
    print(f"    guilds     GUILD_CREATE after READY: {stream}", file=out)
    priv = "allowed" if sb.privileged_intents else "refused (4014)"
    print(f"    intents    privileged intents {priv}", file=out)
    rl = "on" if sb.rest_limiter.enabled else "off"
    print(f"    REST       per-route rate limits {rl} (messages: 5 per 5s per channel)", file=out)
    g = sb.rest_limiter.global_limit
    glob = f"{g} requests/s per token" if g and sb.rest_limiter.enabled else "off"
    inv = sb.invalid_requests.limit
    print(f"    REST       global limit {glob}; {inv} invalid requests per 10 min", file=out)
    print(f"  log          {'on (stderr)' if logging else 'off (--log to turn it on)'}", file=out)
    for line in how_to_talk(sb):
        print(f"  {line}", file=out)
    print("  Ctrl-C to stop.", file=out)


async def _serve(args: argparse.Namespace, out: TextIO) -> int:
    logging = args.log if args.log is not None else sys.stderr.isatty()
    sb = Sandbox(
        guilds=args.guilds,
        max_concurrency=args.max_concurrency,
        identify_window=args.identify_window,
        token=args.token,
        seed=args.seed,
        privileged_intents=not args.no_privileged_intents,
        host=args.host,
        port=args.port,
        heartbeat_interval=args.heartbeat_interval,
        resume_timeout=args.resume_timeout,
        replay_buffer=args.replay_buffer,
        rest_rate_limits=not args.no_rest_rate_limits,
        rest_global_limit=args.global_rate or None,
        invalid_request_limit=args.invalid_limit,
        guild_create_delay=args.guild_create_delay / 1000.0,
        log=sys.stderr if logging else None,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await sb.start()
    except OSError as exc:
        print(
            f"ezlang sandbox: error: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 1
    try:
        ready = {
            "api": sb.api_url,
            "gateway": sb.gateway_url,
            "control": sb.control_url,
            "token": sb.token,
        }
        out.write("SANDBOX_READY " + json.dumps(ready) + "\n")
        _summary(sb, out, logging)
        out.flush()
        await stop.wait()
    finally:
        await sb.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    print("ezlang sandbox: stopped.", file=out, flush=True)
    return 0


def main(argv: list[str]) -> int:
    """Entry point of ``ezlang sandbox …``; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"ezlang sandbox: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    try:
        return asyncio.run(_serve(args, sys.stdout))
    except SandboxError as exc:
        print(f"ezlang sandbox: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":  # python -m ezlang.sandbox.cli
    raise SystemExit(main(sys.argv[1:]))
