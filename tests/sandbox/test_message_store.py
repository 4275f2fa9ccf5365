"""The sandbox's message store: bounded per channel, and waits for bot messages that count
past the bound and after deletions."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from ezlang.sandbox import Sandbox
from ezlang.sandbox.message_store import CHANNEL_HISTORY

AUTH = {"Authorization": "Bot sandbox-token"}


@pytest.fixture
async def sb():
    async with Sandbox(guilds=1, identify_window=0.0) as sandbox:
        yield sandbox


def channel_of(sb: Sandbox) -> int:
    return next(int(c["id"]) for c in sb.world.channels(0) if c["type"] == 0)


async def test_bot_messages_keep_the_latest_history_per_channel(sb) -> None:
    cid = channel_of(sb)
    total = CHANNEL_HISTORY + 5
    for i in range(total):
        sb.record_bot_message(cid, {"content": f"m{i}"})
    kept = sb.bot_messages(cid)
    assert len(kept) == CHANNEL_HISTORY
    assert [kept[0]["content"], kept[-1]["content"]] == ["m5", f"m{total - 1}"]
    assert len(sb.all_bot_messages()) == CHANNEL_HISTORY
    assert len(sb.channel_messages(cid)) == CHANNEL_HISTORY


async def test_waiting_for_more_bot_messages_than_are_kept_still_ends(sb) -> None:
    cid = channel_of(sb)
    total = CHANNEL_HISTORY + 5
    for i in range(total):
        sb.record_bot_message(cid, {"content": f"m{i}"})
    got = await sb.wait_for_bot_messages(cid, total, timeout=5)
    assert len(got) == CHANNEL_HISTORY and got[-1]["content"] == f"m{total - 1}"

    # A deleted message no longer counts: waiting for `total` waits for one more post.
    assert sb.delete_message(cid, got[-1]["id"])
    with pytest.raises(TimeoutError):
        await sb.wait_for_bot_messages(cid, total, timeout=0.05)
    waiter = asyncio.create_task(sb.wait_for_bot_messages(cid, total, timeout=5))
    await asyncio.sleep(0)  # let the waiter start waiting
    assert not waiter.done()
    sb.record_bot_message(cid, {"content": "again"})
    assert (await waiter)[-1]["content"] == "again"


async def test_bulk_delete_removes_bot_messages_from_what_tests_wait_for(sb) -> None:
    cid = channel_of(sb)
    ids = [sb.record_bot_message(cid, {"content": f"b{i}"})["id"] for i in range(3)]
    await sb.wait_for_bot_messages(cid, 3, timeout=5)
    url = f"{sb.api_url}/channels/{cid}/messages/bulk-delete"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"messages": ids[:2]}, headers=AUTH) as r:
            assert r.status == 204, await r.text()
    assert [m["content"] for m in sb.bot_messages(cid)] == ["b2"]
    with pytest.raises(TimeoutError):
        await sb.wait_for_bot_messages(cid, 2, timeout=0.05)
