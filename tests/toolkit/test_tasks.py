"""Tasks: ``create_loop``, ``create_scheduled_task`` and the builtins that manage them.

Schedules are checked through the pure function that computes the next run (no waiting for
real hours); real runs use a 0.2 s loop and a daily time two seconds ahead, formatted here.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ezlang.lang.errors import EzError
from ezlang.toolkit.tasks import (
    next_daily_run,
    next_loop_occurrence,
    parse_time,
    resolve_timezone,
)

from .conftest import Backend, ExampleBot, child_env, ezlang

pytestmark = pytest.mark.timeout(120)

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def _run(tmp_path: Path, source: str, env: dict[str, str] | None = None):
    script = tmp_path / "main.ez"
    script.write_text(textwrap.dedent(source), encoding="utf-8")
    return ezlang("run", str(script), cwd=tmp_path, env=env)


# ---- the schedule, as a pure function ---------------------------------------------------------


def test_times_of_day_parse_on_a_24_hour_clock() -> None:
    assert parse_time("09:00") == dt.time(9, 0)
    assert parse_time("7:05") == dt.time(7, 5)
    assert parse_time("23:59:59") == dt.time(23, 59, 59)
    for bad in ("24:00", "12:60", "9h", "09:00pm", "", "12:00:60", 900):
        with pytest.raises(EzError) as info:
            parse_time(bad)
        assert info.value.kind == "ValueError"


def test_next_daily_run_is_the_next_listed_time_in_the_zone() -> None:
    times = [dt.time(9), dt.time(18, 30)]
    # 07:00 UTC is 09:00 in Paris (summer time): strictly after, so 18:30 Paris comes next.
    after = dt.datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
    assert next_daily_run(times, after, PARIS) == dt.datetime(2026, 7, 1, 18, 30, tzinfo=PARIS)
    after = dt.datetime(2026, 7, 1, 16, 31, tzinfo=UTC)  # 18:31 Paris: tomorrow 09:00
    assert next_daily_run(times, after, PARIS) == dt.datetime(2026, 7, 2, 9, 0, tzinfo=PARIS)
    # Same instant, other zone: New York's 09:00 is 13:00 UTC in summer.
    ny = ZoneInfo("America/New_York")
    got = next_daily_run([dt.time(9)], dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC), ny)
    assert got.astimezone(UTC) == dt.datetime(2026, 7, 1, 13, 0, tzinfo=UTC)


def test_a_time_skipped_by_daylight_saving_runs_after_the_jump_once() -> None:
    # 2026-03-29: Paris clocks jump from 02:00 to 03:00; 02:30 does not exist that day.
    after = dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    got = next_daily_run([dt.time(2, 30)], after, PARIS)
    assert got.astimezone(UTC) == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    again = next_daily_run([dt.time(2, 30)], got, PARIS)
    assert again.astimezone(UTC) == dt.datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


def test_a_time_that_happens_twice_when_clocks_go_back_runs_once() -> None:
    # 2026-10-25: Paris clocks go back from 03:00 to 02:00; 02:30 happens twice.
    after = dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC)
    first = next_daily_run([dt.time(2, 30)], after, PARIS)
    assert first.astimezone(UTC) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    second = next_daily_run([dt.time(2, 30)], first, PARIS)
    assert second.astimezone(UTC) == dt.datetime(2026, 10, 26, 1, 30, tzinfo=UTC)


def test_local_time_is_the_default_zone() -> None:
    after = dt.datetime.now(UTC)
    got = next_daily_run([dt.time(4, 15)], after, None)
    local = got.astimezone()
    assert (local.hour, local.minute) == (4, 15)
    assert after < got <= after + dt.timedelta(days=1, hours=1)


def test_the_zone_comes_from_the_option_then_the_environment() -> None:
    assert resolve_timezone("Europe/Paris", {}) == PARIS
    assert resolve_timezone(None, {"EZLANG_TIMEZONE": "Asia/Tokyo"}) == ZoneInfo("Asia/Tokyo")
    assert resolve_timezone(None, {}) is None  # the machine's local time
    assert resolve_timezone("utc", {}) is UTC
    with pytest.raises(EzError) as info:
        resolve_timezone(None, {"EZLANG_TIMEZONE": "Mars/Olympus"})
    assert info.value.kind == "ValueError"
    assert "$EZLANG_TIMEZONE" in info.value.message


def test_loop_occurrences_are_numbered_alike_by_every_process() -> None:
    assert next_loop_occurrence(2.0, 100.0) == 51  # due at 102.0, strictly after 100.0
    assert next_loop_occurrence(2.0, 101.9) == 51
    assert next_loop_occurrence(0.5, 10.25) == 21  # due at 10.5


# ---- real runs ----------------------------------------------------------------------------------


def test_a_loop_runs_at_its_interval_and_the_program_ends_when_it_stops(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """\
        let start = now()
        let count = 0
        function tick() {
          count = count + 1
          print(count, now() - start)
          if count == 5 { print("stopped", stop_task(id), is_task_running(id)) }
        }
        let id = create_loop(tick, 0.2)
        print("created", id, is_task_running(id))
        """,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "created task_1 true"
    assert lines[-1] == "stopped true false"
    ticks = [line.split() for line in lines[1:-1]]
    assert [int(n) for n, _ in ticks] == [1, 2, 3, 4, 5]
    elapsed = [int(ms) for _, ms in ticks]
    # Fixed rate from creation: the n-th run is due at n × 200 ms (never early).
    for n, ms in enumerate(elapsed, 1):
        assert ms >= n * 200 - 5, elapsed
    assert elapsed[-1] < 5 * 200 + 1500, elapsed
    assert res.stderr == ""


def test_a_task_that_throws_reports_the_position_and_keeps_its_schedule(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """\
        let runs = 0
        function flaky() {
          runs = runs + 1
          if runs == 2 {
            let user = null
            print(user.name)
          }
          print("run", runs)
          if runs == 4 { stop_task(id) }
        }
        let id = create_loop(flaky, 0.1)
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["run 1", "run 3", "run 4"]
    assert "error in task task_1 (the task keeps its schedule):" in res.stderr
    assert "TypeError: cannot read 'name' of null" in res.stderr
    assert "main.ez:6:" in res.stderr
    assert "Traceback" not in res.stderr


def test_start_stop_delete_and_info(tmp_path: Path) -> None:
    res = _run(
        tmp_path,
        """\
        let n = 0
        function tick() { n = n + 1 }
        let id = create_loop(tick, 0.1, {name: "ticker"})
        print(start_task(id))
        while n < 2 { wait(0.05) }
        let info = get_task_info(id)
        print(info.type, info.name, info.interval, info.running, info.runs >= 2, info.next_run > now() - 1000)
        print(stop_task(id), stop_task(id), is_task_running(id), get_task_info(id).next_run)
        let frozen = n
        wait(0.35)
        print(n == frozen)
        print(start_task(id), start_task(id), is_task_running(id))
        while n < frozen + 2 { wait(0.05) }
        let daily = create_scheduled_task(tick, ["18:30", "09:00"], {timezone: "Europe/Paris"})
        let d = get_task_info(daily)
        print(daily, d.type, d.times, d.timezone, d.running, d.interval)
        print(length(list_tasks()), list_tasks()[1].id)
        print(delete_task(daily), delete_task(daily), get_task_info(daily), is_task_running(daily))
        print(delete_task(id), length(list_tasks()))
        """,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "false",
        "loop ticker 0.1 true true true",
        "true false false null",
        "true",
        "true false true",
        'task_2 scheduled ["09:00", "18:30"] Europe/Paris true null',
        "2 task_2",
        "true false null false",
        "true 0",
    ]
    assert res.stderr == ""


def test_a_scheduled_task_runs_at_its_time_in_its_zone(tmp_path: Path) -> None:
    # Two seconds ahead (whole seconds: the schedule has a one-second resolution), written
    # as the wall clock of two zones: the option's and $EZLANG_TIMEZONE's.
    due = int(time.time()) + 3
    kolkata = dt.datetime.fromtimestamp(due, ZoneInfo("Asia/Kolkata")).strftime("%H:%M:%S")
    honolulu = dt.datetime.fromtimestamp(due, ZoneInfo("Pacific/Honolulu")).strftime("%H:%M:%S")
    res = _run(
        tmp_path,
        f"""\
        let runs = 0
        function at_time() {{
          runs = runs + 1
          print("ran", now())
          stop_task(a)
          stop_task(b)
        }}
        let a = create_scheduled_task(at_time, "{kolkata}", {{timezone: "Asia/Kolkata"}})
        let b = create_scheduled_task(at_time, ["{honolulu}"])
        print(get_task_info(a).next_run == get_task_info(b).next_run, get_task_info(b).timezone)
        print(get_task_info(a).next_run)
        """,
        env={"EZLANG_TIMEZONE": "Pacific/Honolulu"},
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "true Pacific/Honolulu"
    assert int(lines[1]) == due * 1000
    ran = [line for line in lines if line.startswith("ran ")]
    assert len(ran) == 1, lines  # both were due at once; the first run stopped both
    at = int(ran[0].split()[1])
    assert due * 1000 <= at < due * 1000 + 1500
    assert res.stderr == ""


@pytest.mark.parametrize(
    ("source", "kind", "column", "words"),
    [
        ('create_scheduled_task(f, "25:00")', "ValueError", 9, '"25:00" is not a time of day'),
        ('create_scheduled_task(f, "9", {timezone: "Mars/Base"})', "ValueError", 9, '"9" is not a time'),
        ('create_scheduled_task(f, "09:00", {timezone: "Mars/Base"})', "ValueError", 9, "unknown time zone 'Mars/Base'"),
        ("create_scheduled_task(f, [])", "TypeError", 9, "got an empty array"),
        ('create_loop(f, "5")', "TypeError", 9, "a number of seconds"),
        ("create_loop(5, 5)", "TypeError", 9, "expects a function"),
        ("create_loop(f, 0)", "ValueError", 9, "at least 0.01 seconds"),
        ("create_loop(f, 1, {every: 2})", "ValueError", 9, "unknown option 'every'"),
        ("create_loop(f, 1, {once_per_bot: 1})", "TypeError", 9, "true or false"),
        ('stop_task("task_9")', "ValueError", 9, 'there is no task "task_9"'),
        ("start_task(1)", "TypeError", 9, "expects a task id"),
    ],
)  # fmt: skip
def test_mistakes_are_positioned_easylang_errors(
    tmp_path: Path, source: str, kind: str, column: int, words: str
) -> None:
    res = _run(tmp_path, f"function f() {{ }}\nprint(1)\nlet x = {source}\n")
    assert res.returncode == 1
    assert res.stdout == "1\n"
    assert res.stderr.startswith(f"{kind}: ")
    assert words in res.stderr
    assert f"main.ez:3:{column}" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_bad_default_zone_is_reported_at_the_call(tmp_path: Path) -> None:
    res = _run(
        tmp_path, 'create_scheduled_task(print, "09:00")\n', env={"EZLANG_TIMEZONE": "Nope/Nowhere"}
    )
    assert res.returncode == 1
    assert "unknown time zone 'Nope/Nowhere' (from $EZLANG_TIMEZONE)" in res.stderr
    assert "main.ez:1:1" in res.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_running_tasks_cleanly(tmp_path: Path, signum: int) -> None:
    (tmp_path / "main.ez").write_text(
        textwrap.dedent(
            """\
            function slow() {
              print("tick")
              wait(30)
              print("never")
            }
            create_loop(slow, 0.1)
            create_scheduled_task(slow, "03:00")
            print("ready")
            """
        ),
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ezlang", "run", "main.ez"],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        # The top level has ended; the loop keeps the program up and its callback is waiting.
        assert proc.stdout.readline() == "tick\n"
        assert proc.poll() is None
        started = time.monotonic()
        os.kill(proc.pid, signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 10
    assert "never" not in out
    assert "Traceback" not in err
    assert "never retrieved" not in err


# ---- once_per_bot across real shard processes ------------------------------------------------

SHARDS = 4

SHARDED_BOT = """\
function once() { db_incr("once:" + str(floor(now() / 2000))) }
function every() { db_incr("every:" + str(floor(now() / 2000))) }
create_loop(once, 2, {once_per_bot: true})
create_loop(every, 2)
// run_now: every shard claims the current day-long occurrence (they start seconds apart,
// so, but for a start that straddles midnight UTC, in the same one): one first run.
create_loop(func() { db_incr("first") }, 86400, {once_per_bot: true, run_now: true, name: "first"})
bot_start()
"""

SHARDED_MANAGER = f"""\
let manager = create_shard_manager("bot.ez", {{total_shards: {SHARDS}}})
spawn_shards()
while length(db_keys("once:")) < 5 {{ wait(0.2) }}
let counts = broadcast_eval("stop_task(\\"task_1\\")\\nlet i = get_task_info(\\"task_1\\")\\nreturn [i.runs, i.skipped]")
stop_shards()
let once = []
for key in db_keys("once:") {{ push(once, db_get(key)) }}
let every = []
for key in db_keys("every:") {{ push(every, db_get(key)) }}
print(json_stringify(counts))
print(json_stringify(once))
print(json_stringify(every))
print(db_get("first"))
"""


async def test_a_once_per_bot_loop_runs_once_per_occurrence_across_shards(
    tmp_path: Path, backend: Backend
) -> None:
    import asyncio
    import json

    from ezlang.sandbox import Sandbox

    (tmp_path / "bot.ez").write_text(SHARDED_BOT, encoding="utf-8")
    (tmp_path / "manager.ez").write_text(SHARDED_MANAGER, encoding="utf-8")
    env = dict(backend.env)
    env.pop("EZLANG_DB", None)  # SQLite: the default ezlang.db beside the files, as users have
    async with Sandbox(guilds=SHARDS, max_concurrency=SHARDS, identify_window=0.5) as sb:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ezlang", "run", "manager.ez", "--api", sb.api_url,
            cwd=tmp_path, env=child_env({**env, "DISCORD_TOKEN": sb.token}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 100)
    stderr = err.decode()
    assert proc.returncode == 0, stderr
    counts, once, every, first = (json.loads(line) for line in out.decode().splitlines()[-4:])
    assert len(counts) == SHARDS
    # Each occurrence (a two-second bucket of wall-clock time) ran on exactly one shard…
    assert len(once) >= 5 and set(once) == {1}, once
    assert sum(runs for runs, _ in counts) >= 5
    # …because the others stood back (they did wake up for it: their loops were running)…
    assert sum(skipped for _, skipped in counts) >= 3 * 4, counts
    # …whereas a loop without the option runs in every shard.
    assert max(every) == SHARDS, every
    assert first == 1  # run_now with once_per_bot: one first run, not one per shard
    assert "Traceback" not in stderr
    assert "error in task" not in stderr


# ---- examples/reminders-bot.ez ------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reminders-bot.ez"


async def test_the_reminders_example_bot_reminds_and_keeps_cooldowns(tmp_path: Path) -> None:
    async with ExampleBot(EXAMPLE, tmp_path) as bot:
        ready = await bot.first_line()
        assert re.fullmatch(r"Logged in as \S+; 1 task\(s\) scheduled\n", ready), ready
        await bot.say("!daily")
        said = await bot.replies(1, "the daily reply")
        assert re.fullmatch(r"Here are your 100 coins, \S+!", said[0]), said
        await bot.say("!daily")
        said = await bot.replies(2, "the cooldown reply")
        m = re.fullmatch(r"You already claimed today's coins; try again in (\d+) s", said[1])
        assert m and 55 <= int(m.group(1)) <= 60, said
        sent = time.monotonic()
        await bot.say("!remind 1 stretch your legs")
        said = await bot.replies(3, "the reminder's confirmation")
        assert said[2] == "I'll remind you in 1 s"
        await bot.say("!remind 1 again")
        said = await bot.replies(4, "the remind cooldown")
        assert said[3] == "Slow down: one reminder every 5 seconds"
        said = await bot.replies(5, "the reminder")
        assert said[4] == "⏰ reminder: stretch your legs"
        assert time.monotonic() - sent >= 1.0
        await bot.say("!tasks")  # the reminder deleted itself: only the daily task is left
        said = await bot.replies(6, "the task list")
        assert said[5] == "task_1 scheduled runs=0"
        await bot.say("!cooldowns")
        said = await bot.replies(7, "the cooldown list")
        assert said[6].startswith('Your cooldowns: {"daily": '), said
