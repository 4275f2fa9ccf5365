"""Background tasks: ``create_loop``, ``create_scheduled_task`` and the builtins that manage them.

The older EasyLang's names and argument order (see docs/TOOLKIT.md, "Tasks and cooldowns"):

* ``create_loop(callback, seconds, options?)`` — call ``callback()`` every ``seconds``;
* ``create_scheduled_task(callback, times, options?)`` — call it every day at each of
  ``times`` (``"09:00"``, ``["09:00", "18:30:15"]``) in the ``timezone`` option's zone, else
  ``$EZLANG_TIMEZONE``, else the machine's local time;
* ``start_task``, ``stop_task``, ``is_task_running``, ``list_tasks``, ``get_task_info``,
  ``delete_task`` on the returned task id (``"task_1"``…).

Every task is an asyncio task owned by the program's :class:`Scheduler` (one per run
context): stopping cancels it and waits for it (bounded), and the scheduler's shutdown hook
stops them all when the program stops. Tasks run their callback as EasyLang code
(``asyncbridge.call_async``), one run at a time: a run that lasts longer than the interval
skips the occurrences it overlapped. A callback that throws prints its positioned error
(``format_error``) and the task keeps its schedule.

While a task is running the program does not end when its top level does (like a connected
bot): ``ctx.keep_alive`` holds a future that completes once no task runs.

``once_per_bot``: in a shard process (``ctx.options["shard_id"]`` set by the shard agent),
each occurrence is claimed in the built-in database with an atomic ``incr`` on a key named
after the task and the occurrence, so exactly one shard — on any host sharing the database —
runs it. Loop occurrences are then aligned on wall-clock multiples of the interval so every
shard numbers them alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ezlang.lang import context, format_error
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.context import RunContext
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import _function_name, to_repr, type_name

#: The default time zone of scheduled tasks (an IANA name such as ``Europe/Paris``).
TIMEZONE_ENV = "EZLANG_TIMEZONE"
#: How long stopping a task waits for its callback to unwind before leaving it.
STOP_TIMEOUT = 5.0
#: The longest single sleep towards a wall-clock time, so a clock change is noticed.
_MAX_SLEEP = 30.0
#: The shortest loop interval (a smaller one would keep the event loop busy).
MIN_INTERVAL = 0.01
#: Prefix of the database keys that claim once-per-bot occurrences.
LEASE_PREFIX = "ezlang:task:"

_MISSING: Any = object()
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


# ---------------------------------------------------------------------------------------------
# Schedules (pure functions: the tests check them without waiting for real hours)


def parse_time(text: Any) -> dt.time:
    """``"09:00"`` or ``"18:30:15"`` as a :class:`datetime.time`; a ValueError EzError else."""
    m = _TIME_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is not None:
        hour, minute, second = int(m[1]), int(m[2]), int(m[3] or 0)
        if hour < 24 and minute < 60 and second < 60:
            return dt.time(hour, minute, second)
    raise EzError(
        "ValueError",
        f"create_scheduled_task(): {to_repr(text)} is not a time of day; write it "
        '"HH:MM" or "HH:MM:SS" on a 24-hour clock, like "09:00" or "18:30"',
    )


def resolve_timezone(name: Any, env: dict[str, str] | None = None) -> dt.tzinfo | None:
    """The zone of ``name`` (or ``$EZLANG_TIMEZONE`` when ``name`` is None); ``None`` means the
    machine's local time (whose rules, daylight saving included, the C library applies)."""
    source = "the timezone option"
    if name is None:
        name = (os.environ if env is None else env).get(TIMEZONE_ENV, "").strip() or None
        source = f"${TIMEZONE_ENV}"
        if name is None:
            return None
    if not isinstance(name, str):
        raise EzError(
            "TypeError",
            f"create_scheduled_task(): {source} must be a string, got {type_name(name)}",
        )
    if name.lower() in ("utc", "z"):
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EzError(
            "ValueError",
            f"create_scheduled_task(): unknown time zone {name!r} (from {source}); use an IANA "
            'name such as "Europe/Paris", "America/New_York" or "UTC"',
        ) from None


def next_daily_run(
    times: Sequence[dt.time], after: dt.datetime, tz: dt.tzinfo | None
) -> dt.datetime:
    """The first moment strictly after ``after`` (an aware datetime) at which the wall clock of
    ``tz`` (``None``: local time) shows one of ``times``; an aware datetime.

    A time that a daylight-saving jump skips runs at the equivalent moment after the jump; a
    time that happens twice (clocks going back) runs once, the first time.
    """
    local_after = after.astimezone(tz) if tz is not None else after.astimezone()
    day = local_after.date() - dt.timedelta(days=1)  # yesterday: a skipped hour can move back
    best: dt.datetime | None = None
    for offset in range(4):
        date = day + dt.timedelta(days=offset)
        for t in times:
            naive = dt.datetime.combine(date, t)
            moment = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
            if moment > after and (best is None or moment < best):
                best = moment
        if best is not None:
            return best
    raise AssertionError("no daily time within four days")  # pragma: no cover - times non-empty


def next_loop_occurrence(interval: float, now: float) -> int:
    """The number of the next wall-clock-aligned occurrence of a loop of ``interval`` seconds
    after the epoch time ``now``: it is due at ``number * interval``. Every process of a bot
    numbers occurrences alike, which is what once-per-bot claims rely on."""
    return math.floor(now / interval) + 1


# ---------------------------------------------------------------------------------------------
# Tasks


@dataclass
class Task:
    """One task: its schedule, its callback and what it has done (``get_task_info``)."""

    id: str
    kind: str  # "loop" or "scheduled"
    callback: Callable[..., Any]
    name: str
    interval: float | None = None
    times: list[dt.time] = field(default_factory=list)
    tz: dt.tzinfo | None = None
    tz_name: str = "local"
    once_per_bot: bool = False
    run_now: bool = False
    runs: int = 0
    errors: int = 0
    skipped: int = 0  # once-per-bot occurrences another process ran
    last_run: float | None = None
    next_run: float | None = None
    last_error: str | None = None
    runner: asyncio.Task[None] | None = None
    stopping: bool = False

    @property
    def running(self) -> bool:
        return self.runner is not None and not self.runner.done() and not self.stopping

    def info(self) -> dict[str, Any]:
        """The task as an EasyLang object."""
        return {
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "running": self.running,
            "interval": self.interval,
            "times": [t.strftime("%H:%M:%S" if t.second else "%H:%M") for t in self.times],
            "timezone": self.tz_name if self.kind == "scheduled" else None,
            "once_per_bot": self.once_per_bot,
            "runs": self.runs,
            "errors": self.errors,
            "skipped": self.skipped,
            "last_run": _ms(self.last_run),
            "next_run": _ms(self.next_run) if self.running else None,
            "last_error": self.last_error,
        }


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)


def _first_due(task: Task) -> float:
    # What get_task_info shows as next_run before the runner has computed it.
    now = time.time()
    if task.run_now:
        return now
    if task.kind == "loop":
        assert task.interval is not None
        return now + task.interval
    return next_daily_run(task.times, dt.datetime.now(dt.UTC), task.tz).timestamp()


async def _sleep_until(wall: float) -> None:
    # Sleep in slices: asyncio's clock is monotonic, so one long sleep would miss a change of
    # the wall clock (NTP step, suspend) and run a daily task at the wrong time.
    while (remaining := wall - time.time()) > 0:
        await asyncio.sleep(min(remaining, _MAX_SLEEP))


class Scheduler:
    """The tasks of one program; owns their asyncio tasks and keeps the program alive."""

    def __init__(self, ctx: RunContext, loop: asyncio.AbstractEventLoop) -> None:
        self.ctx = ctx
        self.loop = loop
        self.tasks: dict[str, Task] = {}
        self._counter = 0
        self._alive: asyncio.Future[None] | None = None
        self._shard = ctx.options.get("shard_id")
        ctx.on_shutdown(self.close)

    # ---- lifecycle -------------------------------------------------------------------------

    def add(self, task_factory: Callable[[str], Task]) -> Task:
        """Create a task with the next id and start it."""
        self._counter += 1
        task = task_factory(f"task_{self._counter}")
        self.tasks[task.id] = task
        self.start(task)
        return task

    def start(self, task: Task) -> bool:
        """Start ``task``; False if it was already running."""
        if task.running:
            return False
        task.stopping = False
        task.next_run = _first_due(task)
        task.runner = self.loop.create_task(self._run(task), name=f"ezlang {task.id}")
        task.runner.add_done_callback(self._runner_done)
        self._update_alive()
        return True

    async def stop(self, task: Task) -> bool:
        """Stop ``task`` (cancel it and wait, bounded); False if it was not running."""
        was_running = task.running
        runner = task.runner
        task.stopping = True
        if runner is None or runner.done():
            self._update_alive()
            return was_running
        if runner is asyncio.current_task():
            # stop_task() from the task's own callback: it ends when the callback returns.
            self._update_alive()
            return was_running
        runner.cancel()
        done, _ = await asyncio.wait({runner}, timeout=STOP_TIMEOUT)
        if not done:
            sys.stderr.write(
                f"warning: task {task.id} did not stop within {STOP_TIMEOUT:g} s of being "
                "cancelled; it is left to finish on its own\n"
            )
        self._update_alive()
        return was_running

    async def close(self) -> None:
        """Stop every task (the program is stopping)."""
        for task in list(self.tasks.values()):
            await self.stop(task)
        if self._alive is not None and not self._alive.done():
            self._alive.set_result(None)

    def _runner_done(self, runner: asyncio.Task[None]) -> None:
        if not runner.cancelled() and runner.exception() is not None:
            # Not the callback's error (that is reported and the task goes on): a failure of
            # the scheduling itself. Say so rather than leave "exception never retrieved".
            sys.stderr.write(f"error: {runner.get_name()} stopped: {runner.exception()!r}\n")
        self._update_alive()

    def _update_alive(self) -> None:
        running = any(t.running for t in self.tasks.values())
        if running and (self._alive is None or self._alive.done()):
            self._alive = self.loop.create_future()
            self.ctx.keep_alive(self._alive)
        elif not running and self._alive is not None and not self._alive.done():
            self._alive.set_result(None)

    # ---- running ---------------------------------------------------------------------------

    async def _run(self, task: Task) -> None:
        started = time.monotonic()
        count = 0
        first = True
        while not task.stopping:
            occurrence: str | None = None
            if first and task.run_now:
                task.next_run = time.time()
                if task.interval is not None:
                    # Shards starting in the same interval claim the same (current) occurrence.
                    number = next_loop_occurrence(task.interval, task.next_run) - 1
                    occurrence = str(number)
            elif task.kind == "loop" and task.once_per_bot and self._shard is not None:
                assert task.interval is not None
                number = next_loop_occurrence(task.interval, time.time())
                task.next_run = number * task.interval
                occurrence = str(number)
                await _sleep_until(task.next_run)
            elif task.kind == "loop":
                assert task.interval is not None
                # Fixed rate from the start; occurrences a long run overlapped are skipped.
                count = max(count + 1, math.floor((time.monotonic() - started) / task.interval) + 1)
                due = started + count * task.interval
                task.next_run = time.time() + max(0.0, due - time.monotonic())
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            else:
                now = dt.datetime.now(dt.UTC)
                moment = next_daily_run(task.times, now, task.tz)
                task.next_run = moment.timestamp()
                occurrence = str(int(task.next_run))
                await _sleep_until(task.next_run)
            first = False
            if task.stopping:
                break
            if task.once_per_bot and self._shard is not None and occurrence is not None:
                if not await self._claim(task, occurrence):
                    task.skipped += 1
                    continue
            await self._invoke(task)

    def _stop_first(self) -> None:
        # Shutdown hooks run newest first. Tasks must stop before what their functions use
        # (the bot's connection, the database) closes, so keep this hook the newest one.
        hooks = self.ctx.shutdown_hooks
        if hooks and hooks[-1] != self.close and self.close in hooks:
            hooks.remove(self.close)
            hooks.append(self.close)

    async def _invoke(self, task: Task) -> None:
        self._stop_first()
        task.last_run = time.time()
        task.runs += 1
        try:
            await call_async(task.callback)
        except Exception as exc:  # a mistake in the callback must not end the schedule
            task.errors += 1
            text = format_error(exc, debug=self.ctx.debug)
            task.last_error = text.splitlines()[0]
            sys.stdout.flush()
            sys.stderr.write(f"error in task {task.id} (the task keeps its schedule):\n{text}")
            sys.stderr.flush()

    async def _claim(self, task: Task, occurrence: str) -> bool:
        """True if this process won ``occurrence`` of ``task`` (atomic across all shards)."""
        from ezlang.toolkit.db import DatabaseError
        from ezlang.toolkit.db.builtins import _database

        prefix = f"{LEASE_PREFIX}{task.name}:"
        try:
            db = await _database()
            self._stop_first()  # opening the database may have added its closing hook
            won = await db.incr(prefix + occurrence) == 1
            if won:
                # Forget old claims (every process has moved past them by now).
                for key in await db.keys(prefix):
                    old = key[len(prefix) :]
                    if old != occurrence and _older(old, occurrence, task):
                        await db.delete(key)
        except DatabaseError as exc:
            sys.stderr.write(
                f"warning: task {task.id} skipped a once_per_bot run: the database could not "
                f"record which shard runs it: {exc}\n"
            )
            return False
        return won


def _older(old: str, current: str, task: Task) -> bool:
    # Keep a few occurrences' claims so a late process still finds the claim and stays out.
    try:
        gap = int(current) - int(old)
    except ValueError:
        return True
    return gap > (10 if task.kind == "loop" else 2 * 86400)


# ---------------------------------------------------------------------------------------------
# The EasyLang builtins

_scheduler: Scheduler | None = None


def scheduler() -> Scheduler:
    """The scheduler of the running program (made on first use)."""
    global _scheduler
    ctx = context.current()
    loop = asyncio.get_running_loop()
    s = _scheduler
    if s is None or s.ctx is not ctx or s.loop is not loop:
        s = _scheduler = Scheduler(ctx, loop)
    return s


_OPTIONS = {
    "create_loop": ("once_per_bot", "name", "run_now"),
    "create_scheduled_task": ("once_per_bot", "name", "timezone"),
}


def _options(fname: str, options: Any) -> dict[str, Any]:
    if options is None or options is _MISSING:
        return {}
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{fname}() expects an options object, got {type_name(options)}")
    known = _OPTIONS[fname]
    for key in options:
        if key not in known:
            raise EzError(
                "ValueError",
                f"{fname}(): unknown option {key!r}; the options are {', '.join(known)}",
            )
    for key in ("once_per_bot", "run_now"):
        if key in options and type(options[key]) is not bool:
            raise EzError(
                "TypeError",
                f"{fname}(): the {key} option must be true or false, got {type_name(options[key])}",
            )
    name = options.get("name")
    if name is not None and (type(name) is not str or not name):
        raise EzError("TypeError", f"{fname}(): the name option must be a non-empty string")
    return options


def _callback(fname: str, fn: Any) -> Callable[..., Any]:
    if fn is _MISSING or not callable(fn):
        got = "nothing" if fn is _MISSING else type_name(fn)
        raise EzError("TypeError", f"{fname}() expects a function as its first argument, got {got}")
    return fn  # type: ignore[no-any-return]


def create_loop(callback: Any = _MISSING, seconds: Any = _MISSING, options: Any = _MISSING) -> str:
    """``create_loop(fn, 60)``: call ``fn()`` every 60 seconds, from now on; the task id."""
    fn = _callback("create_loop", callback)
    if type(seconds) not in (int, float) or not math.isfinite(seconds):
        got = "nothing" if seconds is _MISSING else type_name(seconds)
        raise EzError(
            "TypeError",
            f"create_loop() expects a number of seconds as its second argument, got {got}",
        )
    if seconds < MIN_INTERVAL:
        raise EzError(
            "ValueError", f"create_loop(): the interval must be at least {MIN_INTERVAL} seconds"
        )
    opts = _options("create_loop", options)
    interval = float(seconds)
    name = opts.get("name") or f"loop:{_function_name(fn)}:{interval:g}"
    return (
        scheduler()
        .add(
            lambda tid: Task(
                tid,
                "loop",
                fn,
                name,
                interval=interval,
                once_per_bot=opts.get("once_per_bot", False),
                run_now=opts.get("run_now", False),
            )  # fmt: skip
        )
        .id
    )


def create_scheduled_task(
    callback: Any = _MISSING, times: Any = _MISSING, options: Any = _MISSING
) -> str:
    """``create_scheduled_task(fn, ["09:00", "18:30"], {timezone: "Europe/Paris"})``: call
    ``fn()`` every day at those times; the task id."""
    fn = _callback("create_scheduled_task", callback)
    if isinstance(times, str):
        times = [times]
    if not isinstance(times, list) or not times:
        got = (
            "nothing"
            if times is _MISSING
            else ("an empty array" if times == [] else type_name(times))
        )
        raise EzError(
            "TypeError",
            'create_scheduled_task() expects a time like "09:00" or an array of them as its '
            f"second argument, got {got}",
        )
    parsed = sorted({parse_time(t) for t in times})
    opts = _options("create_scheduled_task", options)
    tz = resolve_timezone(opts.get("timezone"))
    tz_name = "UTC" if tz is dt.UTC else str(getattr(tz, "key", None) or "local")
    spec = ",".join(t.isoformat() for t in parsed)
    name = opts.get("name") or f"daily:{_function_name(fn)}:{spec}:{tz_name}"
    return (
        scheduler()
        .add(
            lambda tid: Task(
                tid,
                "scheduled",
                fn,
                name,
                times=parsed,
                tz=tz,
                tz_name=tz_name,
                once_per_bot=opts.get("once_per_bot", False),
            )  # fmt: skip
        )
        .id
    )


def _find(fname: str, task_id: Any) -> Task:
    task = _lookup(fname, task_id)
    if task is None:
        raise EzError(
            "ValueError",
            f"{fname}(): there is no task {to_repr(task_id)} (list_tasks() shows them)",
        )
    return task


def _lookup(fname: str, task_id: Any) -> Task | None:
    if type(task_id) is not str:
        got = "nothing" if task_id is _MISSING else type_name(task_id)
        raise EzError(
            "TypeError",
            f"{fname}() expects a task id (what create_loop returned) as its argument, got {got}",
        )
    return scheduler().tasks.get(task_id)


def start_task(task_id: Any = _MISSING) -> bool:
    """``start_task(id)``: start a stopped task; false (and nothing happens) if it runs."""
    return scheduler().start(_find("start_task", task_id))


async def stop_task(task_id: Any = _MISSING) -> bool:
    """``stop_task(id)``: stop a task (it can be started again); false if it was not running."""
    return await scheduler().stop(_find("stop_task", task_id))


def is_task_running(task_id: Any = _MISSING) -> bool:
    """``is_task_running(id)``: true while the task is scheduled (false for an unknown id)."""
    task = _lookup("is_task_running", task_id)
    return task is not None and task.running


async def delete_task(task_id: Any = _MISSING) -> bool:
    """``delete_task(id)``: stop the task and forget it; false for an unknown id."""
    task = _lookup("delete_task", task_id)
    if task is None:
        return False
    s = scheduler()
    await s.stop(task)
    s.tasks.pop(task.id, None)
    return True


def get_task_info(task_id: Any = _MISSING) -> dict[str, Any] | None:
    """``get_task_info(id)``: the task's schedule and counters, or null for an unknown id."""
    task = _lookup("get_task_info", task_id)
    return None if task is None else task.info()


def list_tasks() -> list[dict[str, Any]]:
    """``list_tasks()``: every task (running or stopped) as ``get_task_info`` shows it."""
    return [t.info() for t in scheduler().tasks.values()]


for _fn in (
    create_loop, create_scheduled_task, start_task, stop_task, is_task_running,
    delete_task, get_task_info, list_tasks,
):  # fmt: skip
    register(_fn.__name__, _fn)
