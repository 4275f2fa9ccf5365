"""Guild edits and voice states in the server model, seen by real discord.py clients.

A rename (the bot's ``PATCH /guilds/{id}`` or the owner's control call) reaches
``on_guild_update`` with the old and new guild, and GET and a later GUILD_CREATE show it.
Who is in voice is kept: a client connecting later sees ``member.voice.channel`` (only with
GUILD_VOICE_STATES, as Discord sends it), and leaving the guild or deleting the channel
disconnects.
"""

from __future__ import annotations

import aiohttp
import discord
import pytest

from ezlang.sandbox import permissions as perms

from .conftest import wait_for

TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bot {TOKEN}"}


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http, method, url, body=None, headers=None):
    async with http.request(method, url, json=body, headers=headers or AUTH) as r:
        return r.status, await r.json(content_type=None)


async def voice(http, sb, guild_id, user_id, channel_id):
    """``POST {control}/voice``: the user joins ``channel_id`` or leaves voice (None)."""
    body = {"guild_id": str(guild_id), "user_id": str(user_id), "channel_id": channel_id}
    return await call(http, "POST", sb.control_url + "/voice", body)


def voice_intents(voice: bool) -> discord.Intents:
    intents = discord.Intents.default()
    intents.members = True
    intents.voice_states = voice
    return intents


async def test_rename_by_bot_and_owner_reaches_on_guild_update(sandbox, clients, http):
    world = sandbox.world
    gid = world.guild_id(0)
    old_name = world.guild_name(0)
    rc = clients(TOKEN)
    await rc.wait_ready()
    updates: list[tuple[str, str]] = []

    @rc.client.event
    async def on_guild_update(before: discord.Guild, after: discord.Guild) -> None:
        updates.append((before.name, after.name))

    guild = await wait_for(lambda: rc.client.get_guild(gid), what="guild 0 cached")
    # The seed bot role has no Manage Server: Discord's 403 50013.
    with pytest.raises(discord.Forbidden) as refused:
        await guild.edit(name="Renamed by bot")
    assert refused.value.code == 50013
    assert world.guild_name(0) == old_name

    granted = perms.FLAGS["manage_guild"] | perms.FLAGS["view_audit_log"]
    sandbox.server.set_bot_permissions(gid, sandbox.server.bot_permissions(gid) | granted)
    with pytest.raises(discord.HTTPException) as bad:
        await guild.edit(name="x")
    assert bad.value.code == 50035 and "name" in str(bad.value)

    await guild.edit(name="Renamed by bot", description="we bake", reason="rebrand")
    await wait_for(lambda: updates, what="GUILD_UPDATE")
    assert updates == [(old_name, "Renamed by bot")]
    assert rc.client.get_guild(gid).description == "we bake"
    fetched = await rc.client.fetch_guild(gid)
    assert fetched.name == "Renamed by bot"
    entries = [e async for e in guild.audit_logs(action=discord.AuditLogAction.guild_update)]
    assert entries and entries[0].reason == "rebrand"

    status, body = await call(
        http, "PATCH", f"{sandbox.control_url}/guilds/{gid}", {"name": "Owner's Corner"}
    )
    assert status == 200 and body["name"] == "Owner's Corner"
    await wait_for(lambda: len(updates) == 2, what="the owner's GUILD_UPDATE")
    assert updates[1] == ("Renamed by bot", "Owner's Corner")
    state = sandbox.server.state_json(gid)
    assert state["name"] == "Owner's Corner" and state["description"] == "we bake"
    status, body = await call(http, "PATCH", f"{sandbox.control_url}/guilds/{gid}", {"name": "x"})
    assert status == 400 and "between 2 and 100" in body["error"]

    # A client connecting now gets the new name in GUILD_CREATE.
    later = clients(TOKEN)
    await later.wait_ready()
    again = await wait_for(lambda: later.client.get_guild(gid), what="guild 0 for the new client")
    assert again.name == "Owner's Corner"
    # The listing of the bot's guilds shows it too; another guild is untouched.
    names = {g.id: g.name async for g in later.client.fetch_guilds(limit=2)}
    assert names[gid] == "Owner's Corner" and names[world.guild_id(1)] == world.guild_name(1)


async def test_voice_states_kept_for_later_clients(sandbox, clients, http):
    world = sandbox.world
    gid = world.guild_id(0)
    voice_id = next(c["id"] for c in world.channels(0) if c["type"] == 2)
    alice, bob, carol = world.member_ids(0)[1:4]
    for uid in (alice, bob, carol):
        status, body = await voice(http, sandbox, gid, uid, voice_id)
        assert status == 200, body
    state = sandbox.server.state_json(gid)
    assert {v["user_id"] for v in state["voice_states"]} == {str(alice), str(bob), str(carol)}

    seer = clients(TOKEN, intents=voice_intents(True))
    blind = clients(TOKEN, intents=voice_intents(False))
    await seer.wait_ready()
    await blind.wait_ready()
    guild = await wait_for(lambda: seer.client.get_guild(gid), what="guild 0 cached")
    member = guild.get_member(alice)
    assert member is not None and member.voice is not None
    assert member.voice.channel is not None and member.voice.channel.id == int(voice_id)
    assert {m.id for m in member.voice.channel.members} == {alice, bob, carol}
    other = await wait_for(lambda: blind.client.get_guild(gid), what="guild 0 cached (blind)")
    assert other.get_member(alice).voice is None  # no GUILD_VOICE_STATES: no voice states

    # Bob is kicked, Carol banned: Discord disconnects them from voice too.
    await guild.kick(discord.Object(bob))
    await guild.ban(discord.Object(carol))
    await wait_for(
        lambda: {m.id for m in guild.get_channel(int(voice_id)).members} == {alice},
        what="bob and carol out of voice",
    )
    # Alice leaves voice (null channel); then leaving again is a clear 400.
    status, _ = await voice(http, sandbox, gid, alice, None)
    assert status == 200
    await wait_for(lambda: guild.get_member(alice).voice is None, what="alice out of voice")
    status, body = await voice(http, sandbox, gid, alice, None)
    assert status == 400 and "no voice channel" in body["error"]

    # Alice joins again; the voice channel is deleted: she is disconnected.
    status, _ = await voice(http, sandbox, gid, alice, voice_id)
    assert status == 200
    await wait_for(lambda: guild.get_member(alice).voice is not None, what="alice back in voice")
    await guild.get_channel(int(voice_id)).delete()
    await wait_for(lambda: guild.get_member(alice).voice is None, what="disconnected by delete")
    assert sandbox.server.state_json(gid)["voice_states"] == []
