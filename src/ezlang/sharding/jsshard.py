"""discord.js bots (``bot.js``) as shards of the ezlang manager.

A ``.js`` bot runs as ``node --require js/preload.js bot.js``, with the environment discord.js's
own ShardingManager gives a child (``SHARDING_MANAGER``, ``SHARDING_MANAGER_MODE=process``,
``SHARDS``, ``SHARD_COUNT``, a Node IPC channel), so an unmodified discord.js bot — including
``client.shard.broadcastEval`` and ``fetchClientValues`` from inside it — works. Two differences
from discord.js's manager: the token reaches the shard through a pipe the preload reads (never
the shard's argv or initial environment), and every IDENTIFY waits for the manager's identify
queue.

The Node IPC channel is what ``child_process.fork`` makes: a socketpair whose child end is named
by ``NODE_CHANNEL_FD``, carrying one JSON document per line
(``NODE_CHANNEL_SERIALIZATION_MODE=json``). On it travel two kinds of message:

* ezlang's own (``{"k": "q"|"r"|"e", …}``, exactly those of :mod:`ezlang.sharding.ipc`), between
  the manager and the preload: the same requests (``eval``, ``fetch``, ``stats``, ``shutdown``,
  ``identify``) and events (``hb``, ``identify_sent``, ``exit_reason``) as for ``.ez`` shards,
  so :class:`~ezlang.sharding.process.ShardProcess` supervises a Node shard unchanged;
* discord.js's ShardClientUtil protocol, answered here as discord.js's ``Shard`` does:
  ``_ready``/``_reconnecting``/``_resume``/``_disconnect`` (status), ``_sEval`` and
  ``_sFetchProp`` (the bot's cross-shard calls, run by the manager over every shard),
  ``_sRespawnAll``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.sharding.agent import ENV_FD, LOGIN_REJECTED
from ezlang.sharding.ipc import (
    FRAME_SLACK,
    RESULT_FIX,
    Channel,
    ChannelClosed,
    LinkProtocol,
    dumps,
    loads,
    too_large,
)
from ezlang.sharding.policy import FATAL_CLOSE_CODES, explain_close_code
from ezlang.sharding.process import ShardProcess

#: The module every Node shard loads before the bot (shipped as package data).
PRELOAD = Path(__file__).parent / "js" / "preload.js"
#: The Node binary to use instead of ``node`` on PATH.
ENV_NODE = "EZLANG_NODE"
#: discord.js 14 needs this Node major version or newer.
MIN_NODE = 18
INSTALL_NODE = "apt-get install nodejs npm (Debian/Ubuntu), or see https://nodejs.org"


# --- finding Node and discord.js -------------------------------------------------------------


def node_binary() -> str | None:
    """The Node executable: ``EZLANG_NODE``, else ``node`` (or Debian's ``nodejs``) on PATH."""
    configured = os.environ.get(ENV_NODE)
    if configured:
        return shutil.which(configured)
    return shutil.which("node") or shutil.which("nodejs")


_PROBE = r"""
const path = require('node:path');
const { createRequire } = require('node:module');
const out = { node: process.versions.node, discordjs: null };
try {
  let dir = path.dirname(createRequire(process.argv[1]).resolve('discord.js'));
  while (!require('node:fs').existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  out.discordjs = require(path.join(dir, 'package.json')).version;
} catch (error) {
  out.error = String(error && error.code || error);
}
process.stdout.write(JSON.stringify(out));
"""


def check_js_bot(bot_file: Path) -> None:
    """Check, before any shard starts, that ``bot_file`` can run: Node 18+ is installed, the
    bot's ``discord.js`` package is installed where Node looks for it, and the file parses.

    Raises an ``EzError`` that names what is missing and the command that installs it.
    """
    node = node_binary()
    name = bot_file.name
    if node is None:
        configured = os.environ.get(ENV_NODE)
        where = (
            f"{ENV_NODE}={configured!r} is not an executable"
            if configured
            else "no 'node' was found on PATH"
        )
        raise EzError(
            "ShardingError",
            f"{name} is a discord.js bot and needs Node.js {MIN_NODE} or newer, but {where}. "
            f"Install Node.js: {INSTALL_NODE}; or set {ENV_NODE} to the node binary",
        )
    try:
        probe = subprocess.run(
            [node, "-e", _PROBE, str(bot_file)],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=str(bot_file.parent),
        )
        facts = json.loads(probe.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise EzError("ShardingError", f"could not run {node} to check {name}: {exc}") from None
    major = int(str(facts.get("node", "0")).split(".")[0] or 0)
    if major < MIN_NODE:
        raise EzError(
            "ShardingError",
            f"{name} needs Node.js {MIN_NODE} or newer (discord.js 14), but {node} is "
            f"v{facts.get('node')}. Install a newer Node.js: {INSTALL_NODE}",
        )
    if not facts.get("discordjs"):
        raise EzError(
            "ImportError",
            f"{name} needs the discord.js package, which is not installed where Node looks for "
            f"it (node_modules in {bot_file.parent} or a folder above). Install it: "
            f"cd {bot_file.parent} && npm install discord.js",
        )
    check = subprocess.run(
        [node, "--check", str(bot_file)], capture_output=True, text=True, timeout=30
    )
    if check.returncode != 0:
        raise EzError("SyntaxError", _syntax_message(name, check.stderr))


def _syntax_message(name: str, stderr: str) -> str:
    """``bot.js line 3: SyntaxError: Unexpected token '}' (the bot file cannot start)``."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    where = next((m for line in lines if (m := re.search(r":(\d+)$", line))), None)
    error = next((line for line in lines if re.match(r"^\w*Error\b", line)), None)
    text = error or (lines[-1] if lines else "node --check failed")
    position = f" line {where.group(1)}" if where else ""
    return f"{name}{position}: {text} (the bot file cannot start)"


# --- the Node IPC channel ---------------------------------------------------------------------


class _LineProtocol(LinkProtocol, asyncio.Protocol):
    """Cuts the Node IPC stream into JSON lines and hands each to its channel."""

    def __init__(self, channel: NodeChannel) -> None:
        self.channel: NodeChannel = channel
        self.buffer = bytearray()
        self.scanned = 0  # bytes of the buffer known to hold no newline (a long line's start)

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        start = 0
        while (end := buf.find(b"\n", max(start, self.scanned))) >= 0:
            line = bytes(buf[start:end])
            start = end + 1
            try:
                message = loads(line.decode())
            except ValueError as exc:  # UnicodeDecodeError included
                self.fail(f"Node IPC protocol error: {exc}")
                return
            if isinstance(message, dict):
                try:
                    self.channel.on_line(message)
                except Exception as exc:  # a handler's bug must not cut the link
                    asyncio.get_running_loop().call_exception_handler(
                        {"message": "error handling a Node IPC message", "exception": exc}
                    )
        del buf[:start]
        self.scanned = len(buf)
        # The preload checks what it sends against max_eval_bytes (see its reply()): a longer
        # line comes from a broken writer, and the stream cannot be trusted any more.
        if len(buf) > self.channel.max_payload + FRAME_SLACK:
            self.fail("Node IPC message too large")


class NodeChannel(Channel):
    """A :class:`~ezlang.sharding.ipc.Channel` over a Node IPC channel (JSON lines).

    ezlang's messages are framed as lines instead of length-prefixed; any other JSON object on
    the line (discord.js's ShardClientUtil protocol) goes to ``on_foreign``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_foreign: Callable[[dict[str, Any]], None] | None = None

    @classmethod
    async def from_socket(
        cls,
        sock: Any,
        on_request: Any = None,
        on_event: Any = None,
    ) -> NodeChannel:
        """Wrap the manager's end of the socketpair; call :meth:`start` to begin reading."""
        channel = cls(on_request, on_event)
        transport, protocol = await asyncio.get_running_loop().create_unix_connection(
            lambda: _LineProtocol(channel), sock=sock
        )
        channel._transport = transport
        channel._protocol = protocol  # type: ignore[assignment]  # same can_write contract
        return channel

    def _write_frame(self, frame: bytes) -> None:
        # ipc builds length-prefixed frames of ASCII JSON; Node wants the JSON and a newline.
        transport = self._transport
        if self.closed.is_set() or transport is None or transport.is_closing():
            raise ChannelClosed(self.close_reason)
        transport.writelines((memoryview(frame)[4:], b"\n"))

    def send_message(self, message: dict[str, Any]) -> None:
        """Send a discord.js protocol message (dropped if the channel is closed)."""
        with contextlib.suppress(ChannelClosed, ConnectionError, RuntimeError):
            self._write_frame(b"\0\0\0\0" + json.dumps(message, separators=(",", ":")).encode())

    def on_line(self, message: dict[str, Any]) -> None:
        """One message from Node: ezlang's go to the channel, the rest to ``on_foreign``."""
        if message.get("k") in ("q", "r", "e"):
            self._on_frame(message)
        elif self.on_foreign is not None and not str(message.get("cmd", "")).startswith("NODE_"):
            self.on_foreign(message)


# --- the shard process --------------------------------------------------------------------------

#: discord.js ShardClientUtil status messages -> ezlang shard status.
_DJS_STATUS = {
    "_ready": "ready",
    "_resume": "ready",
    "_reconnecting": "reconnecting",
    "_disconnect": "dead",  # only for close codes discord.js will not retry: the shard exits
}


def _echo(message: dict[str, Any], key: str) -> dict[str, Any]:
    """The fields a discord.js reply repeats so the bot matches it to its call: ``key`` and
    ``key + "Shard"`` — the latter only if sent (discord.js compares it with ``undefined``)."""
    return {k: message[k] for k in (key, key + "Shard") if k in message}


class JsShardProcess(ShardProcess):
    """One shard of a discord.js bot: a Node process supervised like every other shard."""

    uses_zygote = False
    # discord.js keeps no session across processes here: a rolling restart respawns the shard
    # (it IDENTIFYs through the queue), and a stop always ends the session (close 1000).
    hands_over = False

    def __init__(self, owner: Any, shard_id: int) -> None:
        super().__init__(owner, shard_id)
        self._djs_tasks: set[asyncio.Task[None]] = set()

    async def _open_channel(self, sock: socket.socket) -> Channel:
        channel = await NodeChannel.from_socket(
            sock, on_request=self._on_request, on_event=self._on_event
        )
        channel.on_foreign = self._on_discordjs
        return channel

    def _config(self) -> bytes:
        config = dict(self.owner.shard_config(self.id))
        config.update(
            bot_file=str(self.owner.options.bot_file),
            fatal_close_codes=sorted(FATAL_CLOSE_CODES),
            login_rejected=LOGIN_REJECTED,
        )
        return json.dumps(config).encode()

    async def _start_child(self, child_sock: socket.socket, env: dict[str, str]) -> Any:
        node = node_binary()
        if node is None:
            raise RuntimeError(f"Node.js is not installed ({INSTALL_NODE})")
        bot = self.owner.options.bot_file
        env = {k: v for k, v in env.items() if k not in (ENV_FD, "PYTHONUNBUFFERED")}
        # The configuration (token included) goes through a pipe that is closed before the
        # child starts: the preload reads it to the end, synchronously, before the bot runs.
        read_fd, write_fd = os.pipe()
        try:
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(self._config())  # far below a pipe's capacity: never blocks
            env.update(
                {
                    # What discord.js's ShardingManager gives a child process (no token).
                    "SHARDING_MANAGER": "true",
                    "SHARDING_MANAGER_MODE": "process",
                    "SHARDS": str(self.id),
                    "SHARD_COUNT": str(self.owner.total_shards),
                    # What child_process.fork gives it: the IPC channel.
                    "NODE_CHANNEL_FD": str(child_sock.fileno()),
                    "NODE_CHANNEL_SERIALIZATION_MODE": "json",
                    "EZLANG_JS_CONFIG_FD": str(read_fd),
                }
            )
            return await asyncio.create_subprocess_exec(
                node,
                "--require",
                str(PRELOAD),
                str(bot),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(child_sock.fileno(), read_fd),
                env=env,
                cwd=str(bot.parent),
                start_new_session=True,  # as for every shard: a Ctrl-C reaches the manager only
                limit=1 << 20,
            )
        finally:
            os.close(read_fd)

    def _on_event(self, op: str, data: Any) -> None:
        if op == "exit_reason" and isinstance(data, dict):
            code = data.get("close_code")
            if isinstance(code, int) and not data.get("error"):
                data = {**data, "error": explain_close_code(code)}
        super()._on_event(op, data)

    # --- discord.js's ShardClientUtil protocol ---------------------------------------------

    def _on_discordjs(self, message: dict[str, Any]) -> None:
        for key, status in _DJS_STATUS.items():
            if message.get(key):
                self._on_event("status", {"status": status})
                return
        if "_sEval" in message:
            args = {"code": message["_sEval"], "shard": message.get("_sEvalShard")}
            self._answer(_echo(message, "_sEval"), {"op": "broadcast_eval", "args": args})
        elif "_sFetchProp" in message:
            args = {"path": message["_sFetchProp"], "shard": message.get("_sFetchPropShard")}
            self._answer(_echo(message, "_sFetchProp"), {"op": "fetch_client_values", "args": args})
        elif "_sRespawnAll" in message:
            self._answer(None, {"op": "respawn_all", "args": {}})
        # Anything else is the bot's own client.shard.send(): ezlang has no listener for it.

    def _answer(self, echo: dict[str, Any] | None, call: dict[str, Any]) -> None:
        """Run the bot's cross-shard call through the manager and send discord.js's reply."""
        channel = self.channel

        async def run() -> None:
            try:
                result = await self.owner.route(self.id, call)
                size, limit = len(dumps(result)), self.owner.options.max_eval_bytes
                if size > limit:  # (the results of every shard together)
                    raise too_large("the result", size, limit, RESULT_FIX)
                reply = {"_result": result}
            except Exception as exc:  # every failure goes back to the bot's promise
                kind = exc.kind if isinstance(exc, EzError) else type(exc).__name__
                text = exc.message if isinstance(exc, EzError) else str(exc)
                reply = {"_error": {"name": kind, "message": text}}
            if echo is not None and isinstance(channel, NodeChannel):
                channel.send_message({**echo, **reply})

        task = asyncio.get_running_loop().create_task(run())
        self._djs_tasks.add(task)
        task.add_done_callback(self._djs_tasks.discard)

    async def _finish_child(self, code: int) -> None:
        for task in list(self._djs_tasks):
            task.cancel()
        if self._djs_tasks:
            await asyncio.gather(*self._djs_tasks, return_exceptions=True)
        await super()._finish_child(code)
