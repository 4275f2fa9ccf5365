"""REST limits shared by every shard: the manager's grants keep the bot under Discord's global
limit (no global 429 however hard the shards push) and brake before the invalid request limit.

Real shard processes of an EasyLang bot against the sandbox, which enforces the global limit per
token across all connections (here a low 20/s so a burst is short).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ezlang.sandbox import Sandbox
from ezlang.sharding.rest_limits import InvalidRequests, RestGrants, SlidingWindow, _held

from .conftest import HERE, WINDOW, text_channel

pytestmark = pytest.mark.timeout(180)

BOT = HERE / "bots" / "bot.ez"
RATE = 20
SHARDS = 4
CALLS = 15  # per shard: 60 requests, 3 s at 20/s


def burst(channel: str, calls: int) -> str:
    return f"""
let n = 0
for i in range({calls}) {{
    get_channel("{channel}")
    n += 1
}}
return n
"""


@pytest.fixture
async def limited() -> Sandbox:  # type: ignore[misc]
    async with Sandbox(
        guilds=8, max_concurrency=1, identify_window=WINDOW, rest_global_limit=RATE
    ) as sb:
        yield sb


async def test_bursting_shards_never_get_a_global_429(limited: Sandbox, make_manager) -> None:
    # make_manager's own sandbox is not used: options point the shards at `limited`.
    manager, reporter = make_manager(
        BOT,
        total_shards=SHARDS,
        token=limited.token,
        api=limited.api_url,
        rest_global_rate=RATE,
        eval_timeout=60,
    )
    await manager.spawn()
    assert limited.state()["global_rate_limited"] == 0
    before = limited.state()["rest_requests"]
    codes = [burst(text_channel(limited, i, SHARDS), CALLS) for i in range(SHARDS)]
    t0 = time.monotonic()
    results = await asyncio.gather(
        *(manager.broadcast_eval(code, shard=i) for i, code in enumerate(codes))
    )
    elapsed = time.monotonic() - t0
    assert results == [CALLS] * SHARDS
    state = limited.state()
    made = state["rest_requests"] - before
    assert made >= SHARDS * CALLS
    assert state["global_rate_limited"] == 0, reporter.text()
    assert state["rest_rate_limited"] == 0
    # The grants really held the shards back: 60 requests at 20/s take about 3 s.
    assert elapsed >= (SHARDS * CALLS - RATE) / RATE
    stats = await manager.stats()
    assert sum(s["rest_requests"] for s in stats) >= SHARDS * CALLS
    assert all(s["rest_global_429s"] == 0 and s["rest_429s"] == 0 for s in stats)
    assert all(s["rest_wait_s"] > 0 for s in stats)  # every shard waited for grants
    assert all(s["rest_rate"] > 0 for s in stats)
    assert manager.rest_grants is not None and manager.rest_grants.granted >= SHARDS * CALLS
    assert "Traceback" not in reporter.text()


async def test_without_the_manager_s_grants_the_same_burst_gets_global_429s(
    limited: Sandbox, make_manager
) -> None:
    """The control experiment: a manager that grants twice the real limit lets the shards
    overrun it, and the sandbox answers global 429s (so the test above can fail)."""
    manager, _ = make_manager(
        BOT,
        total_shards=SHARDS,
        token=limited.token,
        api=limited.api_url,
        rest_global_rate=RATE * 3,
        eval_timeout=60,
    )
    await manager.spawn()
    codes = [burst(text_channel(limited, i, SHARDS), CALLS) for i in range(SHARDS)]
    await asyncio.gather(*(manager.broadcast_eval(code, shard=i) for i, code in enumerate(codes)))
    assert limited.state()["global_rate_limited"] > 0
    stats = await manager.stats()
    assert sum(s["rest_global_429s"] for s in stats) == limited.state()["global_rate_limited"]


async def test_the_sliding_window_grants_rate_per_window_in_order() -> None:
    window = SlidingWindow(5, window=0.2, margin=0.0)
    order: list[int] = []
    stamps: list[float] = []

    async def ask(i: int) -> None:
        await window.acquire()
        order.append(i)
        stamps.append(time.monotonic())

    await asyncio.gather(*(ask(i) for i in range(12)))
    assert order == list(range(12))
    for a, b in zip(stamps, stamps[5:], strict=False):
        assert b - a >= 0.2 - 0.002  # never more than 5 in any 0.2 s


def test_the_invalid_request_brake_slows_down_from_half_the_limit_and_stops_near_it() -> None:
    now = [0.0]
    inv = InvalidRequests(limit=100, window=600.0, clock=lambda: now[0])
    inv.add(49)
    assert inv.pace() == 1.0
    inv.add(1)
    assert inv.pace() == 1.0  # exactly half: the brake starts just above
    inv.add(20)
    assert 0.1 < inv.pace() < 1.0
    inv.add(25)
    assert inv.pace() == 0.0  # 95 of 100: no more grants
    assert inv.resume_in() == pytest.approx(600.0)
    now[0] = 601.0  # every answer left the window
    assert inv.count == 0 and inv.pace() == 1.0


async def test_the_manager_logs_the_granted_rate_while_requests_wait() -> None:
    notes: list[str] = []
    grants = RestGrants(
        SlidingWindow(10, window=0.2, margin=0.0), 10, 10_000, notes.append, report_every=0.3
    )
    for _ in range(5):  # well under the limit: nothing to say
        await grants.grant(0)
    await asyncio.sleep(0.35)
    await grants.grant(0)
    assert notes == []
    await asyncio.gather(*(grants.grant(i % 3) for i in range(40)))  # 4 windows of 10
    assert len(notes) >= 1
    assert notes[0].startswith("REST at the global limit: ")
    assert "requests/s granted over the last" in notes[0] and "(limit 10/s)" in notes[0]
    assert grants.granted == 46


def test_which_requests_wait_for_a_grant() -> None:
    base = "https://discord.com/api/v10"
    assert _held(base + "/channels/1/messages", base)
    assert _held(base + "/webhooks/5", base)  # the bot's own request about a webhook
    assert not _held(base + "/webhooks/5/tok3n", base)  # executing it: the webhook's token
    assert not _held(base + "/webhooks/5/tok3n/messages/@original?wait=true", base)
    assert not _held(base + "/interactions/7/t/callback", base)
    assert not _held("wss://gateway.discord.gg/?v=10", base)
