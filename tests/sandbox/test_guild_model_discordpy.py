"""A plain discord.py client moderating in the sandbox: roles, timeouts, bans, joins.

discord.py sends the REST calls it sends to Discord and learns the results from the gateway
events (GUILD_MEMBER_UPDATE, GUILD_BAN_ADD, GUILD_MEMBER_ADD/REMOVE), so its cache changing
proves both halves of the server model.
"""

from __future__ import annotations

import datetime as dt

import discord
import pytest

from ezlang.sandbox.world import BOT_ROLE_LOW

from .conftest import wait_for

TOKEN = "sandbox-token"


def member_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True  # GUILD_MEMBERS: member events and the member list
    return intents


async def test_discordpy_add_roles_timeout_ban_and_join(sandbox, clients):
    world = sandbox.world
    gid = world.guild_id(0)
    alice, bob = world.member_ids(0)[1:3]
    rc = clients(TOKEN, intents=member_intents())
    await rc.wait_ready()
    client = rc.client
    joined: list[discord.Member] = []
    banned: list[discord.User] = []

    @client.event
    async def on_member_join(member: discord.Member) -> None:
        joined.append(member)

    @client.event
    async def on_member_ban(guild: discord.Guild, user: discord.User) -> None:
        banned.append(user)

    guild = await wait_for(lambda: client.get_guild(gid), what="guild 0 in the cache")
    assert guild.me.top_role.id == gid | BOT_ROLE_LOW
    assert guild.me.guild_permissions.ban_members and not guild.me.guild_permissions.administrator

    member = guild.get_member(alice)
    helper = guild.get_role(gid | 34)
    assert member is not None and helper is not None and helper not in member.roles
    await member.add_roles(helper, reason="helps a lot")
    await wait_for(lambda: helper in guild.get_member(alice).roles, what="role in the cache")
    state = sandbox.server.state_json(gid)
    assert (
        str(helper.id) in next(m for m in state["members"] if m["user_id"] == str(alice))["roles"]
    )

    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    edited = await member.edit(timed_out_until=until)
    assert edited is not None and edited.is_timed_out()
    await wait_for(lambda: guild.get_member(alice).is_timed_out(), what="timeout in the cache")

    await guild.ban(discord.Object(bob), reason="spam")
    await wait_for(lambda: guild.get_member(bob) is None, what="banned member removed")
    await wait_for(lambda: banned, what="on_member_ban")
    assert banned[0].id == bob
    bans = [entry async for entry in guild.bans()]
    assert [(b.user.id, b.reason) for b in bans] == [(bob, "spam")]

    # A user joins through the control API: on_member_join with the member.
    newcomer = sandbox.world.user_id(sandbox.world.user_pool - 1)
    sandbox.server.add_member(gid, newcomer)
    await wait_for(lambda: joined, what="on_member_join")
    assert joined[0].id == newcomer and guild.get_member(newcomer) is not None

    # Without ban_members the same call is Discord's 403 50013.
    sandbox.server.set_bot_permissions(gid, (1 << 10) | (1 << 11))
    await wait_for(lambda: not guild.me.guild_permissions.ban_members, what="role update")
    with pytest.raises(discord.Forbidden) as refused:
        await guild.ban(discord.Object(newcomer))
    assert refused.value.code == 50013
    assert guild.get_member(newcomer) is not None
