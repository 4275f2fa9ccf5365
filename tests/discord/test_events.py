"""The server events of ``listen`` through a real ``ezlang run`` of a bot against the sandbox.

A person changes the server through the control API (joins, leaves, reacts, makes channels and
threads, enters a voice channel, boosts the guild); the bot changes roles and nicknames with
its builtins; every event reaches the EasyLang handler with the right object, which prints it.
A bot without an event's intent gets a clear error at its ``listen`` line, and never the
event.
"""

from __future__ import annotations

import re
from typing import Any

from .conftest import Control, wait_until
from .processes import sandbox_args
from .server import start_bot

BOT = """set_intents(["guilds", "guild_messages", "message_content", "members", "guild_reactions",
             "voice_states"])
on_ready(func(client) { print("ready") })
listen("guildMemberAdd", func(m) { print("add " + m.id + " " + m.guild_id + " " + length(m.roles)) })
listen("guildMemberUpdate", func(old, m) { print("update " + m.id + " " + m.nick + " " + old.nick) })
listen("guildMemberRemove", func(m) { print("remove " + m.id + " " + m.username) })
listen("roleCreate", func(r) { print("role+ " + r.name + " " + r.guild_id) })
listen("roleUpdate", func(old, r) { print("role~ " + old.name + " -> " + r.name) })
listen("roleDelete", func(r) { print("role- " + r.name) })
listen("channelCreate", func(c) { print("chan+ " + c.name + " " + c.type) })
listen("channelUpdate", func(old, c) { print("chan~ " + old.name + " -> " + c.name) })
listen("channelDelete", func(c) { print("chan- " + c.name) })
listen("threadCreate", func(t, fresh) { print("thread+ " + t.name + " " + t.type + " " + fresh) })
listen("threadUpdate", func(old, t) { print("thread~ " + old.name + " -> " + t.name + " " + t.locked) })
listen("threadDelete", func(t) { print("thread- " + t.name) })
listen("messageReactionAdd", func(r, u) { print("react+ " + r.emoji + " " + r.user_id) })
listen("messageReactionRemove", func(r, u) { print("react- " + r.emoji + " " + r.user_id) })
listen("voiceStateUpdate", func(old, s) {
    let was = "none"
    if old != null { was = old.channel_id }
    print("voice " + s.user_id + " " + s.channel_id + " was " + was)
})
listen("guildUpdate", func(old, g) { print("guild~ " + g.id) })
let made = null
on_message(func(message) {
    let w = split(message.content, " ")
    if w[0] == "!role" {
        made = create_role(message.guild_id, "Helpers")
        edit_role(made, {name: "Helpers+"})
        delete_role(made)
    } else if w[0] == "!nick" {
        set_nickname(fetch_member(message.guild_id, w[1]), "Nicky")
    }
})
bot_start()
"""


async def _send(control: Control, method: str, path: str, body: dict[str, Any]) -> Any:
    async with control.http.request(method, control.url + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json(content_type=None)


async def test_each_server_event_reaches_its_handler_with_its_object(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    alice = str(sandbox.world.member_ids(0)[1])

    joined = await control.post("/members", {"guild_id": guild})
    newcomer = joined["user"]["id"]
    assert await bot.wait_line(r"^add ") == f"add {newcomer} {guild} 0"

    await control.inject(channel, f"!nick {alice}")
    assert await bot.wait_line(r"^update ") == f"update {alice} Nicky null"

    await _send(control, "DELETE", f"/members/{guild}/{newcomer}", {})
    line = await bot.wait_line(r"^remove ")
    assert re.fullmatch(rf"remove {newcomer} \S+", line), line

    await control.inject(channel, "!role")
    assert await bot.wait_line(r"^role\+ ") == f"role+ Helpers {guild}"
    assert await bot.wait_line(r"^role~ ") == "role~ Helpers -> Helpers+"
    assert await bot.wait_line(r"^role- ") == "role- Helpers+"

    made = await control.post("/channels", {"guild_id": guild, "name": "news"})
    assert await bot.wait_line(r"^chan\+ ") == "chan+ news text"
    await _send(control, "PATCH", f"/channels/{made['id']}", {"name": "old-news"})
    assert await bot.wait_line(r"^chan~ ") == "chan~ news -> old-news"
    await _send(control, "DELETE", f"/channels/{made['id']}", {})
    assert await bot.wait_line(r"^chan- ") == "chan- old-news"

    thread = await control.post("/threads", {"channel_id": channel, "name": "chat"})
    assert await bot.wait_line(r"^thread\+ ") == "thread+ chat public_thread true"
    await _send(control, "PATCH", f"/channels/{thread['id']}", {"name": "talk", "locked": True})
    assert await bot.wait_line(r"^thread~ ") == "thread~ chat -> talk true"
    await _send(control, "DELETE", f"/channels/{thread['id']}", {})
    assert await bot.wait_line(r"^thread- ") == "thread- talk"

    message = await control.inject(channel, "react to me")
    mid = message.get("id") or message["message"]["id"]
    reaction = {"channel_id": channel, "message_id": mid, "emoji": "👍", "user_id": alice}
    await control.post("/reactions", reaction)
    assert await bot.wait_line(r"^react\+ ") == f"react+ 👍 {alice}"
    await _send(control, "DELETE", "/reactions", reaction)
    assert await bot.wait_line(r"^react- ") == f"react- 👍 {alice}"

    voice = str(int(guild) | 16)
    await control.post("/voice", {"guild_id": guild, "channel_id": voice, "user_id": alice})
    assert await bot.wait_line(r"^voice ") == f"voice {alice} {voice} was none"
    await control.post("/voice", {"guild_id": guild, "channel_id": None, "user_id": alice})
    line = await wait_until(
        lambda: re.search(rf"^voice {alice} null was {voice}$", bot.stdout, re.M),
        what="the voice leave",
    )
    assert line

    await _send(control, "PUT", f"/guilds/{guild}/features", {"features": ["ROLE_ICONS"]})
    assert await bot.wait_line(r"^guild~ ") == f"guild~ {guild}"
    assert "Traceback" not in bot.stderr and "could not deliver" not in bot.stderr, bot.stderr


LISTEN_FIRST = """listen("guildMemberAdd", func(m) { print("joined " + m.id) })
set_intents(["guilds", "guild_messages"])
bot_start()
"""


async def test_listen_without_the_intent_is_an_error_at_the_listen_line(
    sandbox: Any, ezlang_run: Any
) -> None:
    bot = await ezlang_run(LISTEN_FIRST, *sandbox_args(sandbox))
    assert await bot.wait_exit() == 1
    err = bot.stderr
    assert 'DiscordError: the guildMemberAdd event needs the "members" intent' in err, err
    assert 'set_intents([..., "members"])' in err and "SERVER MEMBERS INTENT" in err, err
    assert re.search(r"at \S+\.ez:1:1\b", err), err
    assert 'listen("guildMemberAdd"' in err and "Traceback" not in err, err


LISTEN_LATER = """set_intents(["guilds"])
on_ready(func(client) {
    print("ready")
    listen("voiceStateUpdate", func(old, s) { print("never") })
})
bot_start()
"""


async def test_listen_after_bot_start_without_the_intent_fails_there(
    sandbox: Any, ezlang_run: Any
) -> None:
    bot = await ezlang_run(LISTEN_LATER, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    await wait_until(lambda: "voice_states" in bot.stderr, what="the intent error")
    assert re.search(r"at \S+\.ez:4:5\b", bot.stderr), bot.stderr
    assert "privileged" not in bot.stderr and "Traceback" not in bot.stderr, bot.stderr


INTENTS = """print(has_intent("members"))
add_intent("members")
add_intent("GuildVoiceStates")
remove_intent("message_content")
print(join(get_intents(), ","))
print(has_intent("guild_members"))
let all = list_all_intents()
let privileged = []
for i in all { if i.privileged { push(privileged, i.name) } }
print(join(privileged, ","))
reset_intents()
print(join(get_intents(), ","))
configure_intents(["guilds"])
print(join(get_intents(), ","))
configure_all_intents()
print(length(get_intents()) == length(all))
configure_intents(["guilds", "members"])
listen("guildMemberAdd", func(m) { print("joined " + m.id) })
bot_start()
print("started")
add_intent("presences")
"""


async def test_intent_builtins_and_no_change_after_bot_start(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot = await ezlang_run(INTENTS, *sandbox_args(sandbox))
    assert await bot.wait_exit() == 1
    lines = bot.stdout.splitlines()
    assert lines[0] == "false"
    assert lines[1] == (
        "guilds,members,voice_states,guild_messages,dm_messages,guild_reactions,dm_reactions"
    )
    assert lines[2] == "true"
    assert lines[3] == "members,presences,message_content"
    assert (
        lines[4] == "guilds,guild_messages,dm_messages,guild_reactions,dm_reactions,message_content"
    )
    assert lines[5:8] == ["guilds", "true", "started"]
    assert "add_intent() must be called before bot_start()" in bot.stderr, bot.stderr
    assert re.search(r"at \S+\.ez:21:1\b", bot.stderr), bot.stderr


MORE = """set_intents(["guilds", "guild_messages", "message_content", "members", "moderation",
             "invites", "webhooks", "guild_polls"])
on_ready(func(client) { print("ready") })
listen("guildBanAdd", func(ban) { print("ban+ " + ban.user.id + " " + ban.guild_id) })
listen("guildBanRemove", func(ban) { print("ban- " + ban.user.id) })
listen("inviteCreate", func(inv) { print("invite+ " + inv.code + " " + inv.channel_id) })
listen("inviteDelete", func(inv) { print("invite- " + inv.code) })
listen("webhooksUpdate", func(channel) { print("hooks " + channel.id + " " + channel.name) })
listen("messagePollVoteAdd", func(vote, user_id) { print("vote+ " + vote.answer_id + " " + user_id) })
listen("messagePollVoteRemove", func(vote, user_id) { print("vote- " + vote.answer_id + " " + user_id) })
on_message(func(message) {
    let w = split(message.content, " ")
    if w[0] == "!ban" {
        ban_member(fetch_member(message.guild_id, w[1]), "test")
        unban_user(message.guild_id, w[1])
    } else if w[0] == "!invite" {
        delete_invite(create_invite(message.channel_id))
    } else if w[0] == "!hook" {
        create_webhook(message.channel_id, "Herald")
    } else if w[0] == "!poll" {
        print("poll " + send_poll(message.channel_id, create_poll("Pet?", ["cat", "dog"], 1)).id)
    }
})
bot_start()
"""


async def test_ban_invite_webhook_and_poll_vote_events(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot, channel, guild = await start_bot(MORE, sandbox, control, ezlang_run)
    permissions = ["view_channel", "send_messages", "read_message_history", "ban_members",
                   "create_instant_invite", "manage_channels", "manage_guild",
                   "manage_webhooks", "send_polls"]  # fmt: skip
    await _send(control, "PUT", f"/guilds/{guild}/bot_permissions", {"permissions": permissions})
    bob = str(sandbox.world.member_ids(0)[2])

    await control.inject(channel, f"!ban {bob}")
    assert await bot.wait_line(r"^ban\+ ") == f"ban+ {bob} {guild}"
    assert await bot.wait_line(r"^ban- ") == f"ban- {bob}"

    await control.inject(channel, "!invite")
    line = await bot.wait_line(r"^invite\+ ")
    code = line.split()[1]
    assert line == f"invite+ {code} {channel}"
    assert await bot.wait_line(r"^invite- ") == f"invite- {code}"

    await control.inject(channel, "!hook")
    line = await bot.wait_line(r"^hooks ")
    assert re.fullmatch(rf"hooks {channel} \S+", line), line

    await control.inject(channel, "!poll")
    poll = (await bot.wait_line(r"^poll ")).split()[1]
    alice = str(sandbox.world.member_ids(0)[1])
    votes = f"/polls/{channel}/{poll}/votes"
    await _send(control, "POST", votes, {"user_id": alice, "answer_id": 2})
    assert await bot.wait_line(r"^vote\+ ") == f"vote+ 2 {alice}"
    await _send(control, "DELETE", votes, {"user_id": alice, "answer_id": 2})
    assert await bot.wait_line(r"^vote- ") == f"vote- 2 {alice}"
    assert "Traceback" not in bot.stderr and "could not deliver" not in bot.stderr, bot.stderr


async def test_member_and_voice_events_reach_only_the_sessions_with_their_intent(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    listening = await ezlang_run(
        'set_intents(["guilds", "members", "voice_states"])\n'
        'on_ready(func(c) { print("ready") })\n'
        'listen("guildMemberAdd", func(m) { print("add " + m.id) })\n'
        'listen("voiceStateUpdate", func(old, s) { print("voice " + s.user_id) })\n'
        "bot_start()\n",
        *sandbox_args(sandbox),
    )
    await listening.wait_line("^ready$")
    other = await ezlang_run(
        'set_intents(["guilds", "guild_messages"])\non_ready(func(c) { print("ready") })\n'
        "bot_start()\n",
        *sandbox_args(sandbox),
    )
    await other.wait_line("^ready$")
    guild = str(sandbox.world.guild_id(0))
    joined = await control.post("/members", {"guild_id": guild})
    await listening.wait_line(rf"^add {joined['user']['id']}$")
    await control.post(
        "/voice",
        {"guild_id": guild, "channel_id": str(int(guild) | 16), "user_id": joined["user"]["id"]},
    )
    await listening.wait_line(rf"^voice {joined['user']['id']}$")

    def received(intents_bit: int, has: bool) -> set[str]:
        (session,) = [
            s for s in sandbox.gateway.sessions.values() if bool(s.intents & intents_bit) is has
        ]
        return {event for _, event, _ in session.buffer}

    assert {"GUILD_MEMBER_ADD", "VOICE_STATE_UPDATE"} <= received(1 << 1, True)
    without = received(1 << 1, False)
    assert "GUILD_CREATE" in without  # the other bot's session did get its events
    assert not {"GUILD_MEMBER_ADD", "VOICE_STATE_UPDATE"} & without


async def test_voice_and_reaction_control_routes_refuse_what_cannot_happen(
    sandbox: Any, control: Control
) -> None:
    guild = str(sandbox.world.guild_id(0))
    text = await control.first_text_channel()
    alice = str(sandbox.world.member_ids(0)[1])

    async def status(method: str, path: str, body: dict[str, Any]) -> tuple[int, str]:
        async with control.http.request(method, control.url + path, json=body) as resp:
            return resp.status, (await resp.json(content_type=None))["error"]

    code, error = await status(
        "POST", "/voice", {"guild_id": guild, "channel_id": text, "user_id": alice}
    )
    assert (code, error) == (400, f"{text} is not a voice channel of guild {guild}")
    code, error = await status(
        "POST", "/voice", {"guild_id": guild, "channel_id": None, "user_id": alice}
    )
    assert (code, error) == (400, f"user {alice} is in no voice channel of guild {guild}")
    message = await control.inject(text, "hi")
    mid = message.get("id") or message["message"]["id"]
    code, error = await status(
        "DELETE",
        "/reactions",
        {"channel_id": text, "message_id": mid, "emoji": "👍", "user_id": alice},
    )
    assert (code, error) == (404, f"user {alice} has no 👍 reaction on message {mid}")
