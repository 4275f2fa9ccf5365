"""A fork server for shard processes: import discord.py and ezlang once, fork every shard.

Starting a shard costs mostly imports (discord.py, aiohttp, the EasyLang runtime): about a
third of a CPU-second each. Started all at once, N shards on a 2-core machine spend N/2 times
that before the first one can IDENTIFY, and the whole spawn drifts past the
``ceil(N / max_concurrency) × window`` bound by seconds. The manager therefore starts one
*zygote* (``python -m ezlang.sharding.zygote``) that does the imports once and then forks a
child per shard on request — every shard still starts at the same moment, but in milliseconds,
and the imported code is shared between shards (copy-on-write) instead of loaded N times.

Protocol on an inherited ``SOCK_SEQPACKET`` socketpair, one JSON object per packet:

* zygote → manager: ``{"t": "ready", "pid"}`` once the imports are done;
  ``{"t": "spawned", "req", "pid"}`` after a fork; ``{"t": "exit", "pid", "code"}`` when a child
  exits (``code`` negative for a signal, as ``asyncio.subprocess`` reports it).
* manager → zygote: ``{"t": "spawn", "req", "argv", "env", "cwd"}`` with three file
  descriptors attached (``SCM_RIGHTS``): the shard's IPC socket, its stdout and its stderr.

The zygote is the children's parent and reaps them. It never starts an event loop or a thread,
so forking is safe. When the manager goes away (end-of-file) the zygote exits; its children
notice their own IPC end-of-file and exit too. If the zygote cannot start, the manager falls
back to starting each shard with its own ``python -m ezlang.sharding.shard_main``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import select
import signal
import socket
import sys
import traceback
from typing import Any

ENV_CTL_FD = "EZLANG_ZYGOTE_FD"
MAX_PACKET = 1 << 16

PRELOAD = (
    "discord",
    "aiohttp",
    "psutil",
    "yarl",
    "greenlet",
    "ezlang.lang",
    "ezlang.lang.builtins",
    "ezlang.lang.runner",
    "ezlang.extensions",
    "ezlang.discord.connect",
    "ezlang.discord.view",
    "ezlang.discord.runtime",
    "ezlang.discord.builtins",
    "ezlang.sharding.agent",
    "ezlang.sharding.pybot",
    "ezlang.sharding.shard_main",
    "ezlang.sharding.builtins",
)


def preload() -> None:
    """Import what every shard needs (a missing optional module is skipped)."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the shard will report the real error itself
            print(f"zygote: could not preload {name}: {exc}", file=sys.stderr)


def send(ctl: socket.socket, message: dict[str, Any]) -> None:
    """One packet to the manager."""
    ctl.send(json.dumps(message).encode())


def run_child(
    ctl: socket.socket, wake_r: int, wake_w: int, req: dict[str, Any], fds: list[int]
) -> None:
    """In the forked child: become the shard described by ``req`` (never returns)."""
    code = 1
    try:
        ipc_fd, out_fd, err_fd = fds
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        ctl.close()
        os.close(wake_r)
        os.close(wake_w)
        os.setsid()  # own session: a terminal's Ctrl-C reaches only the manager
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        for fd in (devnull, out_fd, err_fd):
            if fd > 2:
                os.close(fd)
        os.environ.update(req.get("env") or {})
        os.environ["EZLANG_SHARD_IPC_FD"] = str(ipc_fd)
        # The manager (the zygote's parent), not the zygote: shards outlive a dead zygote.
        os.environ["EZLANG_MANAGER_PID"] = str(req["manager_pid"])
        os.chdir(req.get("cwd") or ".")
        argv = list(req["argv"])
        sys.argv = argv
        from ezlang.sharding import shard_main

        code = shard_main.main(argv[1:])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        # A closed or broken pipe cannot take the last lines; the exit code still tells.
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(ctl: socket.socket) -> int:
    """Fork shards on request until the manager closes the socket."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # The manager stops shards itself; a stray SIGINT/SIGTERM must not kill the fork server
    # before its children are reaped.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    send(ctl, {"t": "ready", "pid": os.getpid()})
    manager_pid = os.getppid()
    children: set[int] = set()
    while True:
        try:
            readable, _, _ = select.select([ctl.fileno(), wake_r], [], [], 1.0)
        except InterruptedError:
            readable = []
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(wake_r, 512):
                    pass
        _reap(ctl, children)
        if ctl.fileno() not in readable:
            continue
        try:
            data, fds, _flags, _addr = socket.recv_fds(ctl, MAX_PACKET, 3)
        except OSError:
            data, fds = b"", []
        if not data:
            return 0  # the manager is gone
        req = json.loads(data)
        req["manager_pid"] = manager_pid
        if req.get("t") != "spawn" or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            run_child(ctl, wake_r, wake_w, req, fds)
        for fd in fds:
            os.close(fd)
        children.add(pid)
        send(ctl, {"t": "spawned", "req": req.get("req"), "pid": pid})


def _reap(ctl: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        with contextlib.suppress(OSError):
            send(ctl, {"t": "exit", "pid": pid, "code": os.waitstatus_to_exitcode(status)})


def main() -> int:
    fd = int(os.environ.pop(ENV_CTL_FD))
    ctl = socket.socket(fileno=fd)
    preload()
    try:
        return serve(ctl)
    except (BrokenPipeError, ConnectionResetError):
        return 0


# --- the manager's side ----------------------------------------------------------------------


class ZygoteChild:
    """A shard process forked by the zygote; quacks like ``asyncio.subprocess.Process``."""

    def __init__(
        self,
        pid: int,
        stdout: asyncio.StreamReader,
        stderr: asyncio.StreamReader,
    ) -> None:
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode: int | None = None
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def _set_exit(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        if not self._exited.done():
            self._exited.set_result(self.returncode)

    async def wait(self) -> int:
        """The exit code (negative: killed by that signal)."""
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        if self.returncode is not None:
            raise ProcessLookupError(self.pid)
        os.kill(self.pid, signal.SIGKILL)

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)


class Zygote:
    """The manager's handle on its fork server."""

    def __init__(self, proc: asyncio.subprocess.Process, ctl: socket.socket) -> None:
        self.proc = proc
        self.ctl = ctl
        self.pid = proc.pid
        self._ids = itertools.count(1)
        self._spawned: dict[int, asyncio.Future[int]] = {}
        self._children: dict[int, ZygoteChild] = {}
        self._early_exits: dict[int, int] = {}
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.alive = True

    @classmethod
    async def start(
        cls, cwd: str, env: dict[str, str], on_line: Any, timeout: float = 60.0
    ) -> Zygote | None:
        """Start the fork server; ``None`` if it cannot start (then shards are exec'd)."""
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ezlang.sharding.zygote",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                pass_fds=(child.fileno(),),
                env={**env, ENV_CTL_FD: str(child.fileno()), "PYTHONUNBUFFERED": "1"},
                cwd=cwd,
                start_new_session=True,
            )
        except OSError:
            parent.close()
            return None
        finally:
            child.close()
        parent.setblocking(False)
        zygote = cls(proc, parent)
        zygote._reader = asyncio.get_running_loop().create_task(zygote._read())
        zygote._spawn_task(zygote._forward_output(on_line))
        try:
            await asyncio.wait_for(asyncio.shield(zygote._ready), timeout)
        except (TimeoutError, ConnectionError):
            await zygote.close()
            return None
        except BaseException:  # cancelled: the spawn failed before any shard was started
            await zygote.close()
            raise
        return zygote

    def _spawn_task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forward_output(self, on_line: Any) -> None:
        assert self.proc.stdout is not None
        while True:
            line = await self.proc.stdout.readline()
            if not line:
                return
            on_line(line.decode("utf-8", "replace").rstrip())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await loop.sock_recv(self.ctl, MAX_PACKET)
                if not data:
                    break
                msg = json.loads(data)
                kind = msg.get("t")
                if kind == "ready":
                    if not self._ready.done():
                        self._ready.set_result(None)
                elif kind == "spawned":
                    fut = self._spawned.pop(msg.get("req"), None)
                    if fut is not None and not fut.done():
                        fut.set_result(int(msg["pid"]))
                elif kind == "exit":
                    pid, code = int(msg["pid"]), int(msg["code"])
                    child = self._children.pop(pid, None)
                    if child is not None:
                        child._set_exit(code)
                    else:  # exited before we registered it
                        self._early_exits[pid] = code
        except (OSError, ValueError):
            pass
        finally:
            self._lost()

    def _lost(self) -> None:
        self.alive = False
        if not self._ready.done():
            self._ready.set_exception(ConnectionError("the zygote exited"))
        for fut in self._spawned.values():
            if not fut.done():
                fut.set_exception(ConnectionError("the zygote exited"))
        # Children whose parent died are reaped by init; watch for them to vanish.
        for child in list(self._children.values()):
            self._spawn_task(self._watch_orphan(child))
        self._children.clear()

    async def _watch_orphan(self, child: ZygoteChild) -> None:
        while True:
            try:
                os.kill(child.pid, 0)
            except ProcessLookupError:
                child._set_exit(-signal.SIGKILL)  # the real status went with the zygote
                return
            except PermissionError:
                pass
            await asyncio.sleep(0.2)

    async def spawn(
        self, argv: list[str], env: dict[str, str], cwd: str, ipc_fd: int
    ) -> ZygoteChild:
        """Fork one shard; ``ipc_fd`` is its end of the IPC socketpair."""
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        req = next(self._ids)
        fut: asyncio.Future[int] = loop.create_future()
        self._spawned[req] = fut
        try:
            packet = json.dumps(
                {"t": "spawn", "req": req, "argv": argv, "env": env, "cwd": cwd}
            ).encode()
            socket.send_fds(self.ctl, [packet], [ipc_fd, out_w, err_w])
        except OSError as exc:
            self._spawned.pop(req, None)
            for fd in (out_r, err_r):
                os.close(fd)
            raise ConnectionError(f"the zygote is gone: {exc}") from None
        finally:
            os.close(out_w)
            os.close(err_w)
        try:
            pid = await asyncio.wait_for(fut, 10.0)
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        stdout = await _pipe_reader(out_r)
        stderr = await _pipe_reader(err_r)
        child = ZygoteChild(pid, stdout, stderr)
        if pid in self._early_exits:
            child._set_exit(self._early_exits.pop(pid))
        else:
            self._children[pid] = child
        return child

    async def close(self) -> None:
        """Stop the fork server (its children must already be stopped)."""
        self.alive = False
        # start() owns the readiness future: once it gave up (timeout, cancelled spawn) nobody
        # waits for it any more, so it must not fail later with nobody to see the error.
        if not self._ready.done():
            self._ready.cancel()
        elif not self._ready.cancelled():
            self._ready.exception()  # start() already reported it (it returned None or raised)
        with contextlib.suppress(OSError):
            self.ctl.close()
        if not self._ready.done():
            # Still importing: it would only notice end-of-file once done; no need to wait.
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        try:
            await asyncio.wait_for(self.proc.wait(), 5.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        tasks = [*self._tasks, *([self._reader] if self._reader is not None else [])]
        for task in tasks:
            task.cancel()
        # Wait for them: nothing of the zygote outlives close().
        await asyncio.gather(*tasks, return_exceptions=True)


async def _pipe_reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20, loop=loop)
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader, loop=loop), os.fdopen(fd, "rb", buffering=0)
    )
    return reader


if __name__ == "__main__":
    raise SystemExit(main())
