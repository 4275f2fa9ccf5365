"""Permissions of a server this shard does not hold: the bot runs as shard 1 of 2, so
discord.py has no cache of shard 0's servers; the builtins fetch the guild, channel and member
from Discord and compute the same answer as for a server it holds. And the refusals for a
user who is not a member (10007) and a DM channel."""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from ezlang.discord import lookups, messages, permissions, plugin
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError

from .conftest import Control
from .test_runtime import FakeShardPlugin, ez, start_and_wait_ready

pytestmark = pytest.mark.timeout(90)
# Registered on import (in a program, on first use).
assert lookups.BUILTINS and messages.BUILTINS and permissions.BUILTINS


def _expected(sandbox: Any, index: int, user: int) -> int:
    """@everyone | the member role, without voice permissions in a text channel."""
    gid = sandbox.world.guild_id(index)
    state = sandbox.server.view(gid)
    roles = {gid, *state.members[user].roles}
    bits = 0
    for role in sandbox.world.roles(index):
        if int(role["id"]) in roles:
            bits |= int(role["permissions"])
    return bits & ~discord.Permissions.voice().value


async def test_a_server_of_another_shard_is_fetched(
    run_ctx: Any, sandbox: Any, control: Control
) -> None:
    plugin.install(FakeShardPlugin(1, 2))
    await start_and_wait_ready()
    client = runtime().client
    assert client is not None
    mine = await control.get("/guilds", shard=1, shard_count=2)
    theirs = await control.get("/guilds", shard=0, shard_count=2)
    mine_index = sandbox.world.guild_index(int(mine[0]["id"]))
    theirs_index = sandbox.world.guild_index(int(theirs[0]["id"]))
    their_guild = sandbox.world.guild_id(theirs_index)
    assert client.get_guild(their_guild) is None  # not this shard's

    for index in (mine_index, theirs_index):
        gid = sandbox.world.guild_id(index)
        channel = str(sandbox.world.text_channel_ids(gid)[0])
        user = sandbox.world.member_ids(index)[1]
        bits = await ez("calculate_permissions", str(user), channel)
        assert int(bits) == _expected(sandbox, index, user)
        member = await ez("fetch_member", str(gid), str(user))
        assert await ez("has_permission", member, "send_messages") is True
        assert await ez("has_permission", member, "ban_members") is False

    # An overwrite in the other shard's server: the target id is recognised as a role there.
    channel = str(sandbox.world.text_channel_ids(their_guild)[0])
    made = await ez(
        "create_permission_overwrite", channel, str(their_guild), {"deny": ["add_reactions"]}
    )
    assert made["type"] == "role" and made["deny"] == ["add_reactions"]
    listed = await ez("get_permission_overwrites", channel)
    assert [(o["id"], o["type"]) for o in listed] == [(str(their_guild), "role")]
    user = sandbox.world.member_ids(theirs_index)[1]
    bits = int(await ez("calculate_permissions", str(user), channel))
    assert bits == _expected(sandbox, theirs_index, user) & ~(1 << 6)


async def test_a_non_member_and_a_dm_channel_are_clear_errors(
    run_ctx: Any, sandbox: Any, control: Control
) -> None:
    await start_and_wait_ready()
    channel = await control.first_text_channel()
    ref = sandbox.world.channel(int(channel))
    members = set(sandbox.world.member_ids(ref.guild_index))
    outsider = next(
        sandbox.world.user_id(i)
        for i in range(sandbox.world.user_pool)
        if sandbox.world.user_id(i) not in members
    )
    with pytest.raises(EzError) as err:
        await ez("calculate_permissions", str(outsider), channel)
    assert err.value.kind == "DiscordError"
    assert "10007" in err.value.message and "not a member of the server" in err.value.message
    dm = await ez("create_dm_channel", str(outsider))
    with pytest.raises(EzError, match="that is a DM channel; permissions are per server"):
        await ez("get_channel_permissions", dm["id"], str(outsider))


async def test_an_overwrite_is_read_back_at_once_and_a_refused_one_leaves_no_waiter(
    run_ctx: Any, sandbox: Any, control: Control
) -> None:
    await start_and_wait_ready()
    client = runtime().client
    assert client is not None
    channel = await control.first_text_channel()
    ref = sandbox.world.channel(int(channel))
    user = str(sandbox.world.member_ids(ref.guild_index)[1])
    cached = client.get_channel(int(channel))
    for _ in range(3):  # each line sees the write before it, with no gateway race
        await ez("create_permission_overwrite", channel, user, {"deny": ["send_messages"]})
        assert {o.id for o in cached._overwrites} == {int(user)}  # type: ignore[union-attr]
        assert await ez("has_permissions", user, "send_messages", channel) is False
        await ez("delete_permission_overwrite", channel, user)
        assert cached._overwrites == []  # type: ignore[union-attr]
        assert await ez("has_permissions", user, "send_messages", channel) is True
    with pytest.raises(EzError, match="it lacks Manage Webhooks itself"):
        await ez("create_permission_overwrite", channel, user, {"allow": ["manage_webhooks"]})

    # Cancelled at once (a few loop turns), not left to its 1 s timeout.
    for _ in range(5):
        await asyncio.sleep(0)
    waiters = client._listeners.get("guild_channel_update", [])
    assert all(future.cancelled() for future, _ in waiters)


async def test_without_the_echo_the_write_is_put_in_the_cache() -> None:
    from types import SimpleNamespace

    channel = SimpleNamespace(_overwrites=[])
    never = asyncio.get_running_loop().create_future()
    echo = asyncio.ensure_future(asyncio.wait_for(never, 0.01))
    data = {"id": "5", "type": 1, "allow": "0", "deny": "2048"}
    await permissions._settle(echo, channel, 5, data)
    [o] = channel._overwrites
    assert (o.id, o.allow, o.deny, o.type) == (5, 0, 2048, 1)
