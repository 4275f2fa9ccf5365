"""A plain discord.py client creating channels and threads in the sandbox.

discord.py learns the results from the gateway (CHANNEL_CREATE/UPDATE/DELETE, THREAD_CREATE/
UPDATE/DELETE, THREAD_MEMBERS_UPDATE), so its cache changing (``guild.get_channel``,
``guild.threads``, ``thread.archived``) proves both the REST side and the events.
"""

from __future__ import annotations

import discord

from ezlang.discord import convert
from ezlang.sandbox.permissions import FLAGS
from ezlang.sandbox.world import BOT_ROLE_PERMISSIONS

from .conftest import wait_for

TOKEN = "sandbox-token"


def intents() -> discord.Intents:
    out = discord.Intents.default()
    out.members = True  # THREAD_MEMBERS_UPDATE about other users
    out.message_content = True
    return out


async def test_discordpy_channel_lifecycle_updates_its_cache(sandbox, clients):
    gid = sandbox.world.guild_id(0)
    rc = clients(TOKEN, intents=intents())
    await rc.wait_ready()
    client = rc.client
    created: list[discord.abc.GuildChannel] = []
    deleted: list[discord.abc.GuildChannel] = []

    @client.event
    async def on_guild_channel_create(channel: discord.abc.GuildChannel) -> None:
        created.append(channel)

    @client.event
    async def on_guild_channel_delete(channel: discord.abc.GuildChannel) -> None:
        deleted.append(channel)

    guild = await wait_for(lambda: client.get_guild(gid), what="guild 0")
    before = len(guild.channels)
    category = await guild.create_category("Staff")
    hidden = discord.PermissionOverwrite(view_channel=False)
    # The bot's role first: once @everyone is denied, a bot without it could not see the
    # category any more (and Discord refuses overwrites in a channel it cannot see).
    await category.set_permissions(guild.me.top_role, view_channel=True)
    await category.set_permissions(guild.default_role, overwrite=hidden)
    channel = await guild.create_text_channel("mods", category=category, topic="for mods")
    got = await wait_for(lambda: guild.get_channel(channel.id), what="CHANNEL_CREATE in cache")
    assert got.category_id == category.id and got.topic == "for mods"
    # Created under a category without overwrites: synced with it.
    assert got.overwrites_for(guild.default_role).view_channel is False
    assert got.overwrites_for(guild.me.top_role).view_channel is True
    assert got.permissions_synced
    # EasyLang's channel object is the same from discord.py's cache and from the REST JSON.
    from_rest = convert.channel_from_payload(dict(await client.http.get_channel(channel.id)))
    assert convert.channel(got) == from_rest
    assert from_rest == {
        "id": str(channel.id), "name": "mods", "type": "text", "guild_id": str(gid),
        "topic": "for mods", "position": from_rest["position"], "parent_id": str(category.id),
    }  # fmt: skip
    await wait_for(lambda: len(created) == 2, what="on_guild_channel_create twice")
    assert len(guild.channels) == before + 2 and [c.id for c in created] == [
        category.id,
        channel.id,
    ]

    await channel.edit(name="moderators", topic="new topic")
    await wait_for(lambda: guild.get_channel(channel.id).name == "moderators", what="update")
    assert guild.get_channel(channel.id).topic == "new topic"

    # A position goes through PATCH /guilds/{id}/channels (discord.py's _move): first place,
    # out of the category; then back in with its permissions synced.
    await channel.edit(position=0, category=None)
    moved = await wait_for(
        lambda: guild.get_channel(channel.id).category_id is None and guild.get_channel(channel.id),
        what="moved out of the category",
    )
    assert moved.position == 0
    assert [c.id for c in sorted(guild.text_channels, key=lambda c: c.position)][0] == channel.id
    await moved.set_permissions(guild.default_role, overwrite=None)
    await wait_for(
        lambda: (
            guild.get_channel(channel.id).overwrites_for(guild.default_role).view_channel is None
        ),
        what="overwrite removed",
    )
    await channel.edit(position=1, category=category, sync_permissions=True)
    await wait_for(lambda: guild.get_channel(channel.id).category_id == category.id, what="back")
    back = guild.get_channel(channel.id)
    assert back.permissions_synced and back.overwrites_for(guild.default_role).view_channel is False

    await category.delete()
    await wait_for(lambda: guild.get_channel(category.id) is None, what="category deleted")
    # Its child stays, without a parent (CHANNEL_UPDATE from Discord).
    await wait_for(lambda: guild.get_channel(channel.id).category_id is None, what="orphaned")
    await channel.delete()
    await wait_for(lambda: len(deleted) == 2, what="CHANNEL_DELETE twice")
    assert [c.id for c in deleted] == [category.id, channel.id]
    assert len(guild.channels) == before


async def test_discordpy_threads_archive_lock_and_members(sandbox, clients):
    gid = sandbox.world.guild_id(0)
    general = sandbox.world.text_channel_ids(gid)[0]
    alice = sandbox.world.member_ids(0)[1]
    rc = clients(TOKEN, intents=intents())
    await rc.wait_ready()
    client = rc.client
    joined: list[discord.ThreadMember] = []

    @client.event
    async def on_thread_member_join(member: discord.ThreadMember) -> None:
        joined.append(member)

    guild = await wait_for(lambda: client.get_guild(gid), what="guild 0")
    text = guild.get_channel(general)
    assert isinstance(text, discord.TextChannel)
    thread = await text.create_thread(name="plans", type=discord.ChannelType.public_thread)
    cached = await wait_for(lambda: guild.get_thread(thread.id), what="THREAD_CREATE")
    assert cached.parent_id == general and cached.owner_id == client.user.id
    assert cached in guild.threads
    as_ez = convert.channel(cached)
    assert as_ez == convert.channel_from_payload(dict(await client.http.get_channel(thread.id)))
    assert (as_ez["type"], as_ez["parent_id"], as_ez["archived"]) == (
        "public_thread",
        str(general),
        False,
    )

    # A thread is a channel: the bot posts in it, and the message routes accept it.
    sent = await cached.send("hello thread")
    assert sent.channel.id == thread.id
    assert [m["content"] for m in sandbox.bot_messages(thread.id)] == ["hello thread"]

    await cached.add_user(discord.Object(alice))
    await wait_for(lambda: joined, what="on_thread_member_join")
    assert joined[0].id == alice
    members = await cached.fetch_members()
    assert {m.id for m in members} == {client.user.id, alice}

    # Archive: discord.py drops archived threads from guild.threads.
    await cached.edit(archived=True)
    await wait_for(lambda: guild.get_thread(thread.id) is None, what="archived thread dropped")
    fetched = await client.fetch_channel(thread.id)
    assert isinstance(fetched, discord.Thread) and fetched.archived
    # Posting in an archived (unlocked) thread unarchives it, as on Discord.
    await fetched.send("back again")
    await wait_for(lambda: guild.get_thread(thread.id) is not None, what="unarchived")

    # Locking needs Manage Threads, which the bot's role lacks by default.
    try:
        await guild.get_thread(thread.id).edit(locked=True)
    except discord.Forbidden as exc:
        assert exc.code == 50013
    else:
        raise AssertionError("locking without Manage Threads was accepted")

    # From a message: the thread has the message's id.
    msg = await text.send("start here")
    from_msg = await msg.create_thread(name="replies")
    assert from_msg.id == msg.id
    await wait_for(lambda: guild.get_thread(msg.id), what="thread from message cached")
    try:
        await msg.create_thread(name="again")
    except discord.HTTPException as exc:
        assert exc.code == 160004
    else:
        raise AssertionError("a second thread on one message was accepted")

    try:
        await from_msg.delete()  # needs Manage Threads
    except discord.Forbidden as exc:
        assert exc.code == 50013
    else:
        raise AssertionError("deleting a thread without Manage Threads was accepted")
    assert guild.get_thread(msg.id) is not None  # refused: the thread stays

    # With Manage Threads: lock, then delete (THREAD_DELETE empties the cache).
    sandbox.server.set_bot_permissions(gid, BOT_ROLE_PERMISSIONS | FLAGS["manage_threads"])
    await wait_for(lambda: guild.me.guild_permissions.manage_threads, what="role update")
    await guild.get_thread(thread.id).edit(locked=True, archived=True)
    await wait_for(lambda: guild.get_thread(thread.id) is None, what="locked and archived")
    await from_msg.delete()
    await wait_for(lambda: guild.get_thread(msg.id) is None, what="THREAD_DELETE")
