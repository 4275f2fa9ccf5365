"""``ShardProcess``: the mutable owner of one shard's child process (never shown to users).

One ShardProcess exists per shard id for the manager's lifetime; each (re)start makes a new
child. Its supervisor task (:meth:`ShardProcess.supervise`) starts the child, forwards its
output with a ``[shard N]`` prefix, watches heartbeats and the startup deadline, and decides
after every exit — with the :class:`~ezlang.sharding.policy.RestartPolicy` — whether to restart
it, after what backoff, or to give up (``failed``). What EasyLang code sees are plain stat
objects built from it (:meth:`ShardProcess.snapshot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.sharding.agent import (
    ENV_FD,
    ENV_MANAGER_PID,
    ENV_SHARD_COUNT,
    ENV_SHARD_ID,
    EXIT_FATAL,
)
from ezlang.sharding.interfaces import ShardCallError, ShardHost
from ezlang.sharding.ipc import CANCELLED, Channel, ChannelClosed, RemoteError
from ezlang.sharding.policy import FATAL_CLOSE_CODES, RestartPolicy, explain_close_code

#: Every status a shard can be in (``get_shard_stats``'s ``status``).
STATUSES = ("starting", "identifying", "ready", "resuming", "reconnecting", "dead", "failed")

#: Environment variables never handed to a shard (the token travels over IPC).
SCRUBBED_ENV = ("DISCORD_TOKEN",)
ENV_REDIS_URL = "EZLANG_REDIS_URL"


def process_class(bot_file: Path) -> type[ShardProcess]:
    """The kind of :class:`ShardProcess` that runs ``bot_file`` (``.js``: a Node process)."""
    if bot_file.suffix == ".js":
        from ezlang.sharding.jsshard import JsShardProcess

        return JsShardProcess
    return ShardProcess


def describe_exit(code: int | None) -> str:
    """``exit code 1`` / ``killed by SIGKILL``."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


#: Seconds a failed call waits for the shard's process to be reaped, so the error can say how
#: it ended (a shard that cancels a call because it is shutting down exits right after).
EXIT_GRACE = 2.0


class ShardProcess:
    """Supervises one shard id: its current child process, channel, status and history.

    A bot kind that is not a Python process (a ``.js`` bot: :mod:`ezlang.sharding.jsshard`)
    subclasses it and overrides :meth:`_start_child` and :meth:`_open_channel`.
    """

    #: Whether shards of this kind are forked from the manager's Python zygote.
    uses_zygote = True
    #: Whether its processes hand their gateway session over in a rolling restart and RESUME
    #: a reported one (ezlang.sharding.handover, ezlang.sharding.sessions).
    hands_over = True

    def __init__(self, owner: ShardHost, shard_id: int) -> None:
        self.owner = owner
        self.id = shard_id
        opts = owner.options
        self.policy = RestartPolicy(
            max_restarts=opts.max_restarts, restart_window=opts.restart_window
        )
        self.status = "dead"
        self.pid: int | None = None
        self.restarts = 0
        self.last_exit: dict[str, Any] | None = None
        self.proc: Any = None  # asyncio.subprocess.Process or zygote.ZygoteChild
        self.channel: Channel | None = None
        self.generation = 0  # increases with every child started
        self.ready_generation = 0  # the generation that last became READY
        self.started_at = 0.0
        self.attempt_started = 0.0  # start of the current wait for READY (start or identify)
        self.ready_since: float | None = None
        self.last_hb: float | None = None
        self.guilds = 0
        self.failure: str | None = None  # why the shard is failed (printed once)
        self._exit_reason: dict[str, Any] | None = None
        self._kill_reason: str | None = None
        self._stderr_tail: deque[str] = deque(maxlen=20)
        self._stopping = False
        self._restart_requested = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wait_task: asyncio.Task[int] | None = None
        self._io_tasks: list[asyncio.Task[None]] = []
        self._granted = False  # the current child's IDENTIFY was granted
        self.spawn_timeout_reason: str | None = None
        # Rolling restarts (ezlang.sharding.handover): a successor process loads beside the
        # running one and takes its session over; until then it is on probation (one
        # attempt, nothing published), and the retired one is no longer published either.
        self.published = True
        self.successor = False
        self.probation = False
        self.handover_at: float | None = None

    # --- status -----------------------------------------------------------------------------

    def set_status(self, status: str) -> None:
        if status == self.status:
            return
        self.status = status
        if self.published:
            self.owner.shard_status_changed(self.id, status, self.pid)

    def _gone(self) -> None:
        # The channel is closed: the child is dead or dying, whatever it said last. Say so at
        # once, not only once the process is reaped (a call in between must not see "ready").
        if self.status not in ("dead", "failed"):
            self.set_status("dead")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def terminal(self) -> bool:
        """The supervisor gave up (failed, or dead with nothing left to do)."""
        return self._task is None or self._task.done()

    def snapshot(self) -> dict[str, Any]:
        """The manager's own view of this shard (no client numbers)."""
        return {
            "shard_id": self.id,
            "status": self.status,
            "ready": self.status == "ready",
            "pid": self.pid if self.alive else None,
            "restarts": self.restarts,
            "last_exit": dict(self.last_exit) if self.last_exit else None,
        }

    def stats_entry(
        self, child: dict[str, Any] | None, error: BaseException | None
    ) -> dict[str, Any]:
        """A ``get_shard_stats`` entry: the child's own numbers (``child``; ``None`` when the
        call failed with ``error``) plus the manager's view of the shard."""
        snap = self.snapshot()
        mine = {k: snap[k] for k in ("status", "pid", "restarts", "last_exit")}
        if child is None:
            message = error.message if isinstance(error, EzError) else str(error)
            return {
                "shard_id": self.id,
                "ready": False,
                "status": snap["status"],
                "error": message,
                **mine,
            }
        ready = bool(child.get("ready")) and snap["status"] == "ready"
        return {**child, "shard_id": self.id, "ready": ready, **mine}

    def last_error(self) -> str | None:
        """The most useful line about why the current or last child failed."""
        if self._exit_reason and self._exit_reason.get("error"):
            return str(self._exit_reason["error"])
        if self._kill_reason:
            return self._kill_reason
        tail = list(self._stderr_tail)
        for i in range(len(tail) - 1, -1, -1):
            line = tail[i]
            if line.strip() and not line.startswith((" ", "\t", "^")):
                # An EasyLang error is followed by "  at file:line:col": keep the position.
                after = tail[i + 1].strip() if i + 1 < len(tail) else ""
                if after.startswith("at ") and ":" in after:
                    return f"{line.strip()} ({after})"
                return line.strip()
        return None

    # --- supervision ------------------------------------------------------------------------

    def start(self) -> None:
        """Start (or restart, after ``failed``) the supervisor task."""
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        self.failure = None
        self._task = asyncio.get_running_loop().create_task(
            self.supervise(), name=f"ezlang shard {self.id}"
        )
        self._task.add_done_callback(self._supervisor_ended)

    def _supervisor_ended(self, task: asyncio.Task[None]) -> None:
        # The supervisor's owner is this object: a bug in it is said once, not left unseen.
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.owner.reporter.problem(
                f"shard {self.id}: supervision stopped on an internal error: {exc!r}",
                shard=self.id,
                event="internal_error",
                level="error",
            )

    async def supervise(self) -> None:
        """Run the child, restarting it as the policy says, until stopped or given up."""
        opts = self.owner.options
        while not self._stopping:
            self._restart_requested = False
            try:
                await self._launch()
            except Exception as exc:  # cannot even start a process: nothing to retry
                self._give_up(f"could not start the shard process: {exc}")
                return
            code = await self._wait_exit()
            await self._finish_child(code)
            if self._stopping:
                break
            if self.probation:
                # A successor that dies before taking over is not retried: the old process
                # keeps the shard, and the restart reports why.
                self.failure = self.exit_summary(code)
                self.set_status("failed")
                return
            if self._restart_requested:
                continue
            reason = self._exit_reason or {}
            close_code = reason.get("close_code")
            if reason.get("fatal") or code == EXIT_FATAL:
                if close_code in FATAL_CLOSE_CODES:
                    why = f"gateway closed with {close_code}: {explain_close_code(close_code)}"
                else:
                    why = self.last_error() or describe_exit(code)
                self._give_up(f"{why} (not retried)")
                return
            if not opts.respawn:
                self.set_status("dead")
                self.owner.reporter.problem(
                    f"shard {self.id} exited ({self.exit_summary(code)}); respawn is off",
                    shard=self.id,
                    event="shard_exited",
                )
                return
            now = time.monotonic()
            if self.ready_since is not None:
                self.policy.record_ready_period(now - self.ready_since)
            if not self.policy.record_crash(now):
                self._give_up(
                    f"crashed {self.policy.crashes_in_window} times within "
                    f"{opts.restart_window:g} s (max_restarts {opts.max_restarts}); "
                    f"last: {self.exit_summary(code)}"
                )
                return
            delay = self.policy.next_delay(self.owner.session_resumable(self.id))
            when = f"in {delay:g} s" if delay else "now, resuming its session"
            self.owner.reporter.problem(
                f"shard {self.id} exited ({self.exit_summary(code)}); restarting {when}",
                shard=self.id,
                event="shard_exited",
            )
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        self.set_status("dead")

    def exit_summary(self, code: int | None) -> str:
        """``exit code 1 [close code 4000]: <the last error line>`` for an exit with ``code``."""
        close_code = (self._exit_reason or {}).get("close_code")
        error = self.last_error()
        return (
            describe_exit(code)
            + (f" [close code {close_code}]" if close_code else "")
            + (f": {error}" if error else "")
        )

    def _give_up(self, why: str) -> None:
        self.failure = why
        self.set_status("failed")
        self.owner.reporter.problem(
            f"shard {self.id} failed: {why}", shard=self.id, event="shard_failed", level="error"
        )

    async def _launch(self) -> None:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_ENV}
        env.update(
            {
                ENV_FD: str(child_sock.fileno()),
                ENV_SHARD_ID: str(self.id),
                ENV_SHARD_COUNT: str(self.owner.total_shards),
                ENV_MANAGER_PID: str(os.getpid()),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.owner.options.redis:
            # The bot's own Redis users (the built-in database) follow the manager's option.
            env[ENV_REDIS_URL] = self.owner.options.redis
        self._exit_reason = None
        self._kill_reason = None
        self._stderr_tail.clear()
        self.ready_since = None
        self.last_hb = None
        self.generation += 1
        self.restarts = self.generation - 1
        self._granted = False
        self.set_status("starting")
        try:
            proc = await self._start_child(child_sock, env)
        finally:
            child_sock.close()  # only the child may hold this end, or EOF never comes
        self.proc = proc
        self.pid = proc.pid
        self.started_at = self.attempt_started = time.monotonic()
        self.channel = await self._open_channel(parent_sock)
        self.channel.max_payload = self.owner.options.max_eval_bytes  # the child gets it too
        self.channel.start()
        assert proc.stdout is not None and proc.stderr is not None
        self._io_tasks = [
            asyncio.create_task(self._forward(proc.stdout, False)),
            asyncio.create_task(self._forward(proc.stderr, True)),
        ]
        self._wait_task = asyncio.create_task(proc.wait())

    async def _open_channel(self, sock: socket.socket) -> Channel:
        """The manager's end of the IPC channel to the child just started."""
        return await Channel.from_socket(sock, on_request=self._on_request, on_event=self._on_event)

    async def _start_child(self, child_sock: socket.socket, env: dict[str, str]) -> Any:
        """Fork the shard from the manager's zygote, or exec a fresh interpreter."""
        opts = self.owner.options
        zygote = self.owner.zygote
        if zygote is not None and zygote.alive:
            shard_env = {
                k: env[k] for k in (ENV_SHARD_ID, ENV_SHARD_COUNT, ENV_REDIS_URL) if k in env
            }
            try:
                return await zygote.spawn(
                    ["ezlang.sharding.shard_main", str(opts.bot_file)],
                    shard_env,
                    str(opts.bot_file.parent),
                    child_sock.fileno(),
                )
            except (ConnectionError, TimeoutError):
                pass  # the zygote died: fall back to a fresh interpreter
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ezlang.sharding.shard_main",
            str(opts.bot_file),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(child_sock.fileno(),),
            env=env,
            cwd=str(opts.bot_file.parent),
            # Own session: a Ctrl-C in the terminal reaches only the manager, which then
            # stops the shards in order (they would otherwise count it as a crash).
            start_new_session=True,
            limit=1 << 20,
        )

    async def _forward(self, stream: asyncio.StreamReader, is_err: bool) -> None:
        prefix = f"[shard {self.id}] "
        scrub = self.owner.scrub
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line longer than the limit: forward it in pieces
                raw = await stream.read(1 << 16)
            if not raw:
                return
            line = scrub(raw.decode("utf-8", "replace").rstrip("\r\n"))
            if is_err:
                self._stderr_tail.append(line)
            self.owner.reporter.child_line(prefix + line, is_err, shard=self.id)

    async def _wait_exit(self) -> int:
        """Wait for the child to exit, killing it on heartbeat or startup timeout."""
        assert self._wait_task is not None and self.proc is not None
        opts = self.owner.options
        period = min(1.0, opts.heartbeat_timeout / 4, opts.heartbeat_interval)
        watched: set[asyncio.Future[Any]] = {self._wait_task}
        closed: asyncio.Task[Any] | None = None
        if self.channel is not None:
            closed = asyncio.create_task(self.channel.closed.wait())
            watched.add(closed)
        try:
            while True:
                done, _ = await asyncio.wait(
                    watched, timeout=period, return_when=asyncio.FIRST_COMPLETED
                )
                if self._wait_task in done:
                    return self._wait_task.result()
                if closed is not None and closed in done:
                    watched.discard(closed)
                    self._gone()
                self._check_deadlines()
        finally:
            if closed is not None and not closed.done():
                closed.cancel()
                await asyncio.wait({closed})

    def _check_deadlines(self) -> None:
        """Kill the child if its heartbeats stopped or it missed ``spawn_timeout``."""
        if self.proc is None or self.proc.returncode is not None:
            return
        opts = self.owner.options
        now = time.monotonic()
        queued = self.status == "identifying" and not self._granted
        if self.last_hb is not None and now - self.last_hb > opts.heartbeat_timeout:
            self._kill(
                f"no heartbeat for {now - self.last_hb:.1f} s (heartbeat_timeout "
                f"{opts.heartbeat_timeout:g} s): its event loop is blocked"
            )
        elif (
            self.ready_generation != self.generation
            and not queued  # waiting for the identify queue is not the shard's fault
            and now - self.attempt_started > opts.spawn_timeout
        ):
            self.spawn_timeout_reason = (
                f"did not become READY within spawn_timeout ({opts.spawn_timeout:g} s)"
                + (f"; last error: {self.last_error()}" if self.last_error() else "")
            )
            self._kill(self.spawn_timeout_reason)
            self.owner.shard_missed_spawn_timeout(self.id)

    def _kill(self, reason: str) -> None:
        if self._kill_reason is None:
            self._kill_reason = reason
            self.owner.reporter.problem(
                f"shard {self.id}: {reason}; killing it", shard=self.id, event="shard_killed"
            )
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()

    async def _finish_child(self, code: int) -> None:
        # Let the output forwarders drain so the last error line is known.
        if self._io_tasks:
            await asyncio.wait(self._io_tasks, timeout=1.0)
            for task in self._io_tasks:
                task.cancel()
            await asyncio.gather(*self._io_tasks, return_exceptions=True)
        if self.channel is not None:
            # Events sent just before exit (exit_reason) are still in the socket: read them.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.channel.closed.wait(), 0.5)
            await self.channel.close()
        reason = self._exit_reason or {}
        self.last_exit = {
            "code": code,
            "reason": describe_exit(code),
            "close_code": reason.get("close_code"),
            "error": self.last_error(),
            "at": int(time.time() * 1000),
        }
        self.channel = None
        self.proc = None
        self.pid = None
        if self.status not in ("failed",):
            self.set_status("dead")

    # --- messages from the child -----------------------------------------------------------

    def _on_event(self, op: str, data: Any) -> None:
        if op == "hb":
            self.last_hb = time.monotonic()
        elif op == "status":
            status = data.get("status") if isinstance(data, dict) else None
            if status not in STATUSES:
                return
            if status == "ready":
                self.guilds = int(data.get("guilds") or 0)
                self.ready_since = time.monotonic()
                self.ready_generation = self.generation
            self.set_status(status)
        elif op == "identify_sent" and isinstance(data, dict):
            note_sent = getattr(self.owner.identify_queue, "note_sent", None)
            if note_sent is not None:
                note_sent(self.id, float(data.get("at", time.monotonic())))
        elif op == "exit_reason" and isinstance(data, dict):
            self._exit_reason = data
        elif op == "session" and self.published:
            self.owner.session_reported(self.id, data)

    async def _on_request(self, op: str, data: Any) -> Any:
        if op == "hello":
            self.last_hb = time.monotonic()
            return self.owner.shard_config(self.id, handover=self.successor)
        if op == "identify":
            self.set_status("identifying")
            self._granted = False
            self.attempt_started = time.monotonic()
            queue = self.owner.identify_queue
            assert queue is not None  # set before any shard starts
            async with self.owner.monitor.identify_wait(self.id):  # metrics, dashboard
                await queue.acquire(self.id)
            self._granted = True
            self.attempt_started = time.monotonic()
            return True
        if op == "route":
            return await self.owner.route(self.id, data)
        if op == "handover" and self.successor:
            return await self.owner.hand_over(self.id)
        raise EzError("ShardingError", f"unknown request {op!r} from shard {self.id}")

    # --- calls into the child ----------------------------------------------------------------

    def running_channel(self, what: str) -> Channel:
        """The channel of the running child.

        Raises a ``not_running`` :class:`ShardCallError` when there is no child, and
        ``ChannelClosed`` when the child's channel is closed but its exit not yet handled
        (:meth:`call_error` turns that into how it exited).
        """
        channel = self.channel
        if channel is None:
            last = self.last_exit
            summary = f"; last exit: {self.exit_summary(last['code'])}" if last else ""
            raise ShardCallError(
                "ShardingError",
                f"{what}: shard {self.id} is not running (status {self.status}{summary})",
                shard_id=self.id,
                reason="not_running",
            )
        if channel.is_closed:
            self._gone()
            raise ChannelClosed(channel.close_reason)
        return channel

    async def _exit_code(self) -> int | None:
        """The exit code of the child a call just lost, once it is reaped (``None``: not yet)."""
        proc, wait_task = self.proc, self._wait_task  # that child's, even if a new one starts
        if proc is None:
            return self.last_exit["code"] if self.last_exit else None
        if wait_task is not None:
            await asyncio.wait({wait_task}, timeout=EXIT_GRACE)
        return proc.returncode  # type: ignore[no-any-return]

    async def call_error(
        self, what: str, exc: BaseException, timeout: float | None
    ) -> BaseException:
        """The error to report for a failed call: a dead or silent shard says what happened.

        Decided by the error's type and its IPC ``code`` (never by its text): a closed channel,
        or a call the shard cancelled because it is shutting down, is the shard exiting during
        ``what``; a ``TimeoutError`` is a shard that did not answer; anything else (an error
        of the code the shard ran) is returned as it is.
        """
        if isinstance(exc, ShardCallError):
            return exc
        cancelled = isinstance(exc, RemoteError) and exc.code == CANCELLED
        if isinstance(exc, ChannelClosed) or cancelled:
            code = await self._exit_code()
            if code is None:
                if isinstance(exc, ChannelClosed):
                    self._gone()
                message = f"shard {self.id} stopped answering during {what}: it is shutting down"
            else:
                self._gone()
                message = f"shard {self.id} exited ({self.exit_summary(code)}) during {what}"
            return ShardCallError("ShardingError", message, shard_id=self.id, reason="exited")
        if isinstance(exc, TimeoutError):
            return ShardCallError(
                "TimeoutError",
                f"shard {self.id} did not answer {what} within {timeout:g} s",
                shard_id=self.id,
                reason="timeout",
            )
        return exc

    async def call(self, what: str, op: str, payload: Any, timeout: float | None) -> Any:
        """Request ``op`` of this shard's process for the user's ``what``; never hangs
        (``timeout``), and a failure of the shard itself is a :class:`ShardCallError`."""
        try:
            return await self.running_channel(what).request(op, payload, timeout)
        except (ChannelClosed, TimeoutError, EzError) as exc:
            raise await self.call_error(what, exc, timeout) from None

    # --- stopping ------------------------------------------------------------------------------

    async def stop_child(self, grace: float = 5.0, keep_session: bool = False) -> None:
        """Ask the child to close its gateway and exit; kill it after ``grace`` seconds.

        ``keep_session``: the child drops its connection without ending the session (see
        ``ShardAgent.shutdown``)."""
        proc, channel, wait_task = self.proc, self.channel, self._wait_task
        if proc is None or proc.returncode is not None or wait_task is None:
            return
        if channel is not None and not channel.is_closed:
            # No answer (gone already, frozen, or failing) is fine: the wait below decides.
            with contextlib.suppress(ChannelClosed, TimeoutError, EzError):
                await channel.request(
                    "shutdown", {"keep_session": keep_session}, timeout=min(grace, 2.0)
                )
        done, _ = await asyncio.wait({wait_task}, timeout=grace)
        if not done:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.wait({wait_task}, timeout=5.0)
        if channel is not None:
            # What the child said last (its final session seq) is read before its EOF.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.closed.wait(), 1.0)

    async def stop(self, grace: float = 5.0, keep_session: bool = False) -> None:
        """Stop supervising and stop the child; returns when the process is gone."""
        self._stopping = True
        self._wake.set()
        await self.stop_child(grace, keep_session)
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=10.0)
            if not task.done():
                task.cancel()
                await asyncio.wait({task})
        if self.status != "failed":
            self.set_status("dead")

    async def retire(self) -> Any:
        """Have the child stop dispatching and hand its session over (rolling restart);
        returns the session, or ``None`` if the child could not say. The child then exits
        by itself, and this supervisor does not restart it."""
        self._stopping = True
        self.published = False
        self._wake.set()
        channel = self.channel
        if channel is None or channel.is_closed:
            return None
        try:
            return await channel.request("handover", None, timeout=5.0)
        except (ChannelClosed, TimeoutError, EzError):
            return None

    async def restart(self, grace: float = 5.0) -> None:
        """Replace the child with a new one now (``respawn_shard``); not counted as a crash."""
        if self._task is None or self._task.done():
            self.policy = RestartPolicy(
                max_restarts=self.policy.max_restarts, restart_window=self.policy.restart_window
            )
            self.start()
            return
        self._restart_requested = True
        self._wake.set()  # also ends a backoff wait
        await self.stop_child(grace)
