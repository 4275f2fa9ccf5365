"""Fast specifications of the manager's parts that need no processes: options, restart
policy, identify queue and the IPC channel."""

from __future__ import annotations

import asyncio
import io
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from ezlang.lang.errors import EzError
from ezlang.lang.values import EzObject
from ezlang.sharding.identify import LocalIdentifyQueue
from ezlang.sharding.ipc import Channel, ChannelClosed
from ezlang.sharding.options import OPTION_HELP, parse_options
from ezlang.sharding.policy import FATAL_CLOSE_CODES, RestartPolicy
from ezlang.sharding.progress import Reporter, stats_table

BOT = str(Path(__file__).parent / "bots" / "pybot.py")


def opts(**kw: object) -> object:
    return parse_options(BOT, {"token": "t", **kw})


def error_of(**kw: object) -> EzError:
    with pytest.raises(EzError) as info:
        opts(**kw)
    return info.value


# --- options -----------------------------------------------------------------------------------


def test_defaults_match_the_documented_values() -> None:
    o = parse_options(BOT, {"token": "t"})
    assert (o.respawn, o.spawn_timeout, o.eval_timeout) == (True, 30, 5)
    assert (o.heartbeat_interval, o.heartbeat_timeout) == (5, 30)
    assert (o.max_restarts, o.restart_window) == (5, 3600)
    assert o.total_shards is None and o.max_concurrency is None  # "auto"


@pytest.mark.parametrize(
    ("options", "kind", "fragment"),
    [
        ({"total_shards": "many"}, "ValueError", "total_shards"),
        ({"total_shards": 0}, "ValueError", "total_shards"),
        ({"total_shards": 1.5}, "ValueError", "total_shards"),
        ({"total_shards": True}, "TypeError", "total_shards"),
        ({"respawn": "yes"}, "TypeError", "respawn"),
        ({"spawn_timeout": -1}, "ValueError", "spawn_timeout"),
        ({"eval_timeout": "5"}, "TypeError", "eval_timeout"),
        ({"max_restarts": -1}, "ValueError", "max_restarts"),
        ({"shard_list": 3}, "TypeError", "shard_list"),
        ({"shard_list": [0, 0]}, "ValueError", "twice"),
        ({"shard_list": [0, "1"]}, "TypeError", "shard_list"),
        ({"total_shards": 2, "shard_list": [0, 2]}, "ValueError", "outside [0, 2)"),
        ({"heartbeat_interval": 10, "heartbeat_timeout": 5}, "ValueError", "heartbeat_timeout"),
        ({"api": "ftp://x"}, "ValueError", "api"),
        ({"tokn": "x"}, "ValueError", "unknown option 'tokn' (did you mean 'token'?"),
        ({"max_concurrency": {}}, "TypeError", "max_concurrency"),
    ],
)
def test_every_bad_option_is_a_clear_error_naming_it(
    options: dict[str, object], kind: str, fragment: str
) -> None:
    err = error_of(**options)
    assert err.kind == kind
    assert fragment in err.message


def test_token_is_required_and_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    with pytest.raises(EzError, match="option 'token' is required"):
        parse_options(BOT, {})
    monkeypatch.setenv("DISCORD_TOKEN", "secret-from-env")
    o = parse_options(BOT, {})
    assert o.token == "secret-from-env"
    assert "secret" not in repr(o) and "secret" not in str(o.public())


def test_bot_file_must_exist_and_be_a_bot() -> None:
    with pytest.raises(EzError, match="does not exist"):
        parse_options("nope.ez", {"token": "t"})
    with pytest.raises(
        EzError, match=r"\.ez\), a discord.py bot \(\.py\) or a discord.js bot \(\.js\)"
    ):
        parse_options(__file__.replace(".py", ".txt"), {"token": "t"})
    with pytest.raises(EzError) as info:
        parse_options(42, {"token": "t"})
    assert info.value.kind == "TypeError"


def test_every_option_is_documented_in_one_table() -> None:
    assert set(OPTION_HELP) >= {
        "token", "total_shards", "shard_list", "respawn", "spawn_timeout", "eval_timeout",
        "heartbeat_interval", "heartbeat_timeout", "max_restarts", "restart_window",
        "max_concurrency", "identify_window", "api",
    }  # fmt: skip


# --- restart policy ---------------------------------------------------------------------------


def test_backoff_doubles_from_one_second_to_sixty() -> None:
    policy = RestartPolicy(max_restarts=100)
    delays = []
    for i in range(9):
        assert policy.record_crash(float(i))
        delays.append(policy.next_delay())
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_backoff_resets_after_sixty_seconds_ready() -> None:
    policy = RestartPolicy(max_restarts=100)
    for i in range(4):
        policy.record_crash(float(i))
    assert policy.next_delay() == 8
    policy.record_ready_period(61)
    policy.record_crash(100.0)
    assert policy.next_delay() == 1


def test_crash_loop_cap_counts_only_within_the_window() -> None:
    policy = RestartPolicy(max_restarts=2, restart_window=10)
    assert policy.record_crash(0) and policy.record_crash(1)
    assert not policy.record_crash(2)  # third crash within 10 s
    policy = RestartPolicy(max_restarts=2, restart_window=10)
    assert policy.record_crash(0) and policy.record_crash(1)
    assert policy.record_crash(20)  # the old ones fell out of the window


def test_fatal_close_codes_are_the_never_retry_list_with_explanations() -> None:
    assert set(FATAL_CLOSE_CODES) == {4004, 4010, 4011, 4012, 4013, 4014}
    assert all(len(text) > 30 for text in FATAL_CLOSE_CODES.values())


# --- identify queue ---------------------------------------------------------------------------


async def test_identify_queue_spaces_grants_per_bucket() -> None:
    queue = LocalIdentifyQueue(max_concurrency=2, window=0.2, margin=0.02)
    grants: dict[int, float] = {}

    async def ask(shard: int) -> None:
        await queue.acquire(shard)
        grants[shard] = time.monotonic()
        queue.note_sent(shard, time.monotonic())  # the shard reports its IDENTIFY left

    await asyncio.wait_for(asyncio.gather(*(ask(i) for i in range(6))), 5)
    for bucket in (0, 1):
        times = sorted(t for s, t in grants.items() if s % 2 == bucket)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= 0.2 for g in gaps), gaps
    # The two buckets run side by side: 6 shards over 2 buckets take 2 windows, not 5.
    assert max(grants.values()) - min(grants.values()) < 0.2 * 3


async def test_identify_queue_times_the_next_grant_from_the_real_send() -> None:
    queue = LocalIdentifyQueue(max_concurrency=1, window=0.2, margin=0.02)
    await queue.acquire(0)
    granted = time.monotonic()
    nxt = asyncio.ensure_future(queue.acquire(1))
    await asyncio.sleep(0.3)  # past window + margin, but shard 0 has not sent yet
    assert not nxt.done()
    sent = time.monotonic()
    queue.note_sent(0, sent)  # a slow shard: its IDENTIFY left 0.3 s after the grant
    await asyncio.wait_for(nxt, 2)
    assert time.monotonic() - sent >= 0.2 and time.monotonic() - granted >= 0.5


async def test_identify_queue_does_not_wait_forever_for_a_shard_that_died() -> None:
    queue = LocalIdentifyQueue(max_concurrency=1, window=0.1, margin=0.01)
    await queue.acquire(0)  # and never reports a send
    started = time.monotonic()
    await asyncio.wait_for(queue.acquire(1), 2)
    assert 0.15 <= time.monotonic() - started < 1


async def test_identify_queue_close_cancels_waiters() -> None:
    queue = LocalIdentifyQueue(max_concurrency=1, window=10)
    await queue.acquire(0)
    waiter = asyncio.ensure_future(queue.acquire(1))
    await asyncio.sleep(0.05)
    await queue.close()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(waiter, 2)


# --- IPC ----------------------------------------------------------------------------------------


async def _pair(handler: object = None) -> tuple[Channel, Channel]:
    a, b = socket.socketpair()

    async def echo(op: str, data: object) -> object:
        if op == "fail":
            raise EzError("ValueError", "bad thing")
        if op == "slow":
            await asyncio.sleep(10)
        return {"op": op, "data": data}

    left = await Channel.from_socket(a)
    right = await Channel.from_socket(b, on_request=handler or echo)  # type: ignore[arg-type]
    left.start()
    right.start()
    return left, right


async def test_ipc_request_reply_and_errors_keep_their_kind() -> None:
    left, right = await _pair()
    try:
        assert await left.request("x", [1, "ü", None], 2) == {"op": "x", "data": [1, "ü", None]}
        with pytest.raises(EzError) as info:
            await left.request("fail", None, 2)
        assert (info.value.kind, info.value.message) == ("ValueError", "bad thing")
        with pytest.raises(TimeoutError):
            await left.request("slow", None, 0.1)
    finally:
        await left.close()
        await right.close()


async def test_ipc_pending_call_fails_when_the_other_end_dies() -> None:
    left, right = await _pair()
    pending = asyncio.ensure_future(left.request("slow", None, 30))
    await asyncio.sleep(0.05)
    await right.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(pending, 2)
    await left.close()


async def test_ipc_events_arrive_in_order() -> None:
    seen: list[object] = []
    a, b = socket.socketpair()
    left = await Channel.from_socket(a)
    right = await Channel.from_socket(b, on_event=lambda op, d: seen.append((op, d)))
    left.start()
    right.start()
    for i in range(100):
        left.send_event("hb", i)
    deadline = time.monotonic() + 2
    while len(seen) < 100 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert seen == [("hb", i) for i in range(100)]
    await left.close()
    await right.close()


async def test_ipc_frames_cut_anywhere_and_large_frames_arrive_whole() -> None:
    # Bytes trickling in one at a time, several frames in one read, and a frame far larger
    # than the receive buffer must all come out as the same messages, in order.
    from ezlang.sharding import ipc

    seen: list[object] = []
    a, b = socket.socketpair()
    right = await Channel.from_socket(b, on_event=lambda op, d: seen.append((op, d)))
    right.start()
    big = "é" * 600_000  # 1.2 MB of UTF-8: several times the 64 KiB buffer
    frames = [ipc.encode({"k": "e", "op": "x", "d": i}) for i in range(3)]
    frames.append(ipc.encode({"k": "e", "op": "big", "d": big}))
    frames.append(ipc.encode({"k": "e", "op": "x", "d": 3}))
    data = b"".join(frames)
    a.setblocking(False)
    loop = asyncio.get_running_loop()
    head = frames[0] + frames[1][:7]
    for i in range(len(head)):  # the first frames one byte per write
        await loop.sock_sendall(a, head[i : i + 1])
        await asyncio.sleep(0)
    await loop.sock_sendall(a, data[len(head) :])
    deadline = time.monotonic() + 5
    while len(seen) < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert [op for op, _ in seen] == ["x", "x", "x", "big", "x"]
    assert [d for op, d in seen if op == "x"] == [0, 1, 2, 3]
    assert seen[3][1] == big
    assert not right.is_closed
    a.close()
    await right.close()


async def test_ipc_send_request_answers_through_the_callback_and_forget_drops_it() -> None:
    left, right = await _pair()
    try:
        from ezlang.sharding import ipc

        got: list[tuple[bool, object]] = []
        done = asyncio.Event()

        def on_reply(ok: bool, value: object) -> None:
            got.append((ok, value))
            done.set()

        left.send_request("x", ipc.dumps({"n": 1}), on_reply)
        await asyncio.wait_for(done.wait(), 2)
        assert got == [(True, {"op": "x", "data": {"n": 1}})]
        done.clear()
        left.send_request("fail", "null", on_reply)
        await asyncio.wait_for(done.wait(), 2)
        assert got[1][0] is False and isinstance(got[1][1], EzError)
        assert got[1][1].kind == "ValueError"
        # A forgotten request's reply is ignored; a pending one fails when the channel closes.
        forgotten = left.send_request("x", "1", on_reply)
        left.forget(forgotten)
        done.clear()
        left.send_request("slow", "null", on_reply)
        await asyncio.sleep(0.05)
        await right.close()
        await asyncio.wait_for(done.wait(), 2)
        assert len(got) == 3 and got[2][0] is False and isinstance(got[2][1], ChannelClosed)
    finally:
        await left.close()
        await right.close()


async def test_ipc_a_corrupt_frame_closes_the_channel_with_the_reason() -> None:
    a, b = socket.socketpair()
    right = await Channel.from_socket(b)
    right.start()
    a.sendall(b"\x00\x00\x00\x05nope!")
    await asyncio.wait_for(right.closed.wait(), 2)
    assert "IPC protocol error" in right.close_reason
    a.close()
    await right.close()


async def test_ipc_values_json_cannot_carry_become_an_error_reply() -> None:
    left, right = await _pair(lambda op, data: {1, 2} if op == "set" else object())
    try:
        assert sorted(await left.request("set", None, 2)) == [1, 2]  # a set travels as an array
        circular: list[object] = []
        circular.append(circular)
        left2, right2 = await _pair(lambda op, data: circular)
        try:
            with pytest.raises(EzError):
                await left2.request("x", None, 2)
        finally:
            await left2.close()
            await right2.close()
    finally:
        await left.close()
        await right.close()


# --- the shard agent's eval -----------------------------------------------------------------


class _View(EzObject):
    """A stand-in for the client view: ``client.guilds.cache.size`` is 7."""

    def __init__(self, members: dict[str, object]) -> None:
        self.members = members

    def ez_get(self, name: str) -> object:
        return self.members.get(name)

    def ez_keys(self) -> list[str]:
        return list(self.members)


def _agent() -> Any:
    from ezlang.sharding.agent import ShardAgent

    agent = ShardAgent(None, {"shard_id": 0, "shard_count": 1, "token": "t"})  # type: ignore[arg-type]
    agent.client = object()
    agent.view = _View({"guilds": _View({"cache": _View({"size": 7})})})
    return agent


async def test_eval_answers_synchronous_code_inline_and_keeps_its_greenlet() -> None:
    agent = _agent()
    assert agent.eval_now("return client.guilds.cache.size", 1) == 7
    runner = agent._runner
    assert agent.eval_now("client.guilds.cache.size + 1", 1) == 8
    assert agent._runner is runner
    with pytest.raises(EzError) as info:
        agent.eval_now("return nope", 1)
    assert info.value.kind == "NameError" and "line 1, column 8 of the code" in info.value.message
    assert agent.eval_now("return 2", 1) == 2  # usable after an error


async def test_evals_that_pause_run_concurrently_and_time_out_on_their_own() -> None:
    agent = _agent()
    slow = agent.eval_now("wait(0.2)\nreturn 1", 2)
    quick = agent.eval_now("wait(0.01)\nreturn client.guilds.cache.size", 2)
    assert agent.eval_now("return 3", 2) == 3  # while two are paused
    stuck = agent.eval_now("wait(30)\nreturn 4", 0.1)
    failing = agent.eval_now('wait(0.01)\nreturn 1 - "a"', 2)
    results = await asyncio.wait_for(
        asyncio.gather(slow, quick, stuck, failing, return_exceptions=True), 5
    )
    assert results[:2] == [1, 7]
    assert isinstance(results[2], EzError) and results[2].kind == "TimeoutError"
    assert isinstance(results[3], EzError) and results[3].kind == "TypeError"
    assert "line 2" in results[3].message
    assert agent.eval_now("return 5", 1) == 5


# --- progress output ----------------------------------------------------------------------------


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_otherwise() -> None:
    plain = io.StringIO()
    reporter = Reporter(out=plain)
    reporter.spawn_started([0, 1], 2, 2.0, lambda: 0.0)
    reporter.shard_status(0, "ready", 11)
    reporter.shard_status(1, "ready", 12)
    reporter.spawn_finished(True)
    text = plain.getvalue()
    assert "spawning 2 of 2 shards" in text and "shard 1 ready (pid 12) — 2/2" in text
    assert "all 2 shards ready" in text

    tty = FakeTTY()
    reporter = Reporter(out=tty)
    assert reporter.fancy
    reporter.spawn_started([0, 1], 2, 2.0, lambda: 1.5)
    reporter.shard_status(0, "identifying", 11)
    reporter.child_line("[shard 0] hello")
    reporter.shard_status(0, "ready", 11)
    reporter.spawn_finished(True)
    assert "[shard 0] hello" in tty.getvalue()
    assert Reporter(progress=False, out=FakeTTY()).fancy is False


def test_stats_table_lines_up_columns() -> None:
    table = stats_table(
        [
            {"shard_id": 0, "status": "ready", "guild_count": 10, "ping": 5, "memory_mb": 50.1},
            {"shard_id": 1, "status": "failed", "error": "x"},
        ]
    )
    lines = table.splitlines()
    assert lines[0].startswith("shard") and len(lines) == 3
    assert "50.1 MB" in lines[1] and "failed" in lines[2]
