"""The real discord.py client against the sandbox: login, READY, guilds, messages."""

from __future__ import annotations

import discord

from ezlang.sandbox import Sandbox


async def test_client_reaches_ready_and_replies_to_injected_message(sandbox: Sandbox, clients):
    rc = clients(sandbox.token)

    @rc.client.event
    async def on_message(message: discord.Message) -> None:
        if message.author.bot:
            return
        await message.channel.send(f"pong: {message.content}")

    await rc.wait_ready()
    assert len(rc.client.guilds) == 20
    assert rc.client.user is not None and rc.client.user.bot

    channel_id = sandbox.guilds_for_shard(0, 1)[3]["text_channel_ids"][0]
    result = await sandbox.inject_message(channel_id, "ping")
    assert result["delivered"] is True
    msgs = await sandbox.wait_for_bot_messages(channel_id, 1)
    assert msgs[0]["content"] == "pong: ping"
    assert msgs[0]["author"]["id"] == str(rc.client.user.id)


async def test_edit_delete_react_typing_and_file_upload_through_discordpy(
    sandbox: Sandbox, clients
):
    import io

    rc = clients(sandbox.token)
    await rc.wait_ready()
    cid = int(sandbox.guilds_for_shard(0, 1)[2]["text_channel_ids"][0])
    channel = rc.client.get_channel(cid)
    async with channel.typing():
        msg = await channel.send("first")
    edited = await msg.edit(content="second")
    assert edited.content == "second"
    assert sandbox.bot_messages(cid)[0]["content"] == "second"
    await msg.add_reaction("👍")
    assert sandbox.reactions[0]["emoji"] == "👍"
    with_file = await channel.send("a file", file=discord.File(io.BytesIO(b"hello"), "hello.txt"))
    assert with_file.attachments[0].filename == "hello.txt"
    assert sandbox.bot_messages(cid)[1]["attachments"][0]["size"] == 5
    await msg.delete()
    assert [m["content"] for m in sandbox.bot_messages(cid)] == ["a file"]
    history = [m.content async for m in channel.history(limit=10)]
    assert history == ["a file"]


async def test_bot_reply_references_the_injected_message(sandbox: Sandbox, clients):
    rc = clients(sandbox.token)

    @rc.client.event
    async def on_message(message: discord.Message) -> None:
        if not message.author.bot:
            await message.reply("replying")

    await rc.wait_ready()
    cid = sandbox.guilds_for_shard(0, 1)[0]["text_channel_ids"][0]
    sent = await sandbox.inject_message(cid, "hi there")
    (reply,) = await sandbox.wait_for_bot_messages(cid, 1)
    assert reply["type"] == 19 and reply["message_reference"]["message_id"] == sent["id"]
    assert reply["referenced_message"]["content"] == "hi there"
