"""Interactions end to end: a real ``ezlang run`` bot, the real discord.py client, and the
sandbox's control API acting as the user (``POST /interactions``) — every response type,
every option type, autocomplete, the 3-second rule, deferred answers, modals, persistent
buttons across a restart, and commands synced once and not again when unchanged."""

from __future__ import annotations

import json
import re
import signal
from typing import Any

import pytest

from .conftest import Control, wait_until
from .processes import sandbox_args

pytestmark = pytest.mark.timeout(180)

BOT = """
on_ready(func(client) { print("ready") })
slash_command("ping", "Replies pong", func(i) { interaction_reply(i, "pong") })
slash_command("echo", "Echoes every option type", {options: [
    {name: "text", type: "string", description: "what to say", required: true},
    {name: "times", type: "integer", description: "how often", min: 1, max: 3},
    {name: "loud", type: "boolean", description: "in capitals"},
    {name: "ratio", type: "number", description: "a number"},
    {name: "who", type: "user", description: "a user"},
    {name: "where", type: "channel", description: "a channel"},
    {name: "role", type: "role", description: "a role"},
    {name: "thing", type: "mentionable", description: "a user or role"},
    {name: "file", type: "attachment", description: "a file"},
]}, func(i) {
    print("options " + json_stringify(i.options))
    interaction_reply(i, {content: i.options.text, ephemeral: true})
})
slash_command("poll", "A poll with buttons", func(i) {
    interaction_reply(i, {
        embeds: [create_embed({title: "Lunch?", color: "blurple"})],
        components: [create_action_row(
            create_button("Pizza", "primary", "vote:pizza"),
            create_button("Salad", "success", "vote:salad"))],
    })
})
on_button("vote:", func(i) {
    interaction_update(i, {content: "voted " + i.custom_id + " by " + i.user.id, components: []})
})
slash_command("menu", "A select", func(i) {
    interaction_reply(i, {components: [create_string_select("pick", ["red", "green"], {max: 2})]})
})
on_select("pick", func(i) { interaction_reply(i, "picked " + join(i.values, ",")) })
slash_command("form", "A modal", func(i) {
    show_modal(i, create_modal("form", "Tell me", [
        create_text_input("name", "Your name", "short", {max: 40}),
        create_text_input("bio", "About you", "paragraph", {required: false})]))
})
on_modal("form", func(i) { interaction_reply(i, "hello " + get_modal_field(i, "name")) })
slash_command("slow", "Too slow", func(i) {
    wait(4)
    interaction_reply(i, "late")
})
slash_command("later", "Deferred", func(i) {
    interaction_defer(i)
    wait(0.2)
    interaction_edit(i, "done later")
    interaction_followup(i, {content: "and one more", ephemeral: true})
})
slash_command("boom", "Throws", func(i) { throw "kaboom" })
slash_command("twice", "Modal after defer", func(i) {
    interaction_defer(i)
    show_modal(i, create_modal("late", "Late", [create_text_input("x", "X", "short")]))
})
slash_command("gone", "Deletes its answer", func(i) {
    interaction_reply(i, "soon gone")
    interaction_delete(i)
    interaction_followup(i, "deleted")
})
slash_command("search", "Autocomplete", {options: [
    {name: "q", type: "string", description: "query", autocomplete: true}]},
    func(i) { interaction_reply(i, "searched " + i.options.q) })
on_autocomplete("search", "q", func(i, typed) {
    let out = []
    for f in ["apple", "apricot", "banana"] { if starts_with(f, typed) { append(out, f) } }
    return out
})
slash_command("config", "Groups", {subcommands: [
    {name: "show", description: "show it", handler: func(i) { interaction_reply(i, "show") }},
    {name: "set", description: "set things", subcommands: [
        {name: "color", description: "the color", options: [
            {name: "value", type: "string", description: "v", required: true,
             choices: ["red", "blue"]}]}]}]},
    func(i) { interaction_reply(i, i.subcommand_group + "/" + i.subcommand + "=" + i.options.value) })
user_command("Inspect", func(i) { interaction_reply(i, "user " + i.target.id) })
message_command("Quote", func(i) { interaction_reply(i, "quote: " + i.message.content) })
slash_command("confirm", "wait_for_component", func(i) {
    let msg = interaction_reply(i, {content: "sure?",
        components: [create_button("Yes", "danger", "yes")]})
    print("waiting on " + msg.id)
    let click = wait_for_component(msg, {timeout: 20, user: i.user})
    interaction_update(click, {content: "confirmed by " + click.user.id, components: []})
})
listen("interactionCreate", func(i) { print("saw " + i.type) })
bot_start()
"""


async def _interact(control: Control, channel: str, **body: Any) -> dict[str, Any]:
    return await control.post("/interactions", {"channel_id": channel, **body})


async def _commands(control: Control) -> dict[str, Any]:
    return await control.get("/commands")


async def _synced(control: Control, count: int) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        data = await _commands(control)
        return data if len(data["global"]) == count else None

    return await wait_until(ready, what=f"{count} global commands")


async def test_every_response_type_and_option_type(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot = await ezlang_run(BOT, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    await _synced(control, 15)
    channel = await control.first_text_channel()

    pong = await _interact(control, channel, name="ping")
    assert pong["failed"] is False and pong["response"]["type"] == 4
    assert pong["response"]["data"]["content"] == "pong"
    await bot.wait_line("^saw command$")

    # Every option type, resolved into objects.
    ref = sandbox.world.channel(int(channel))
    role = next(
        r["id"] for r in sandbox.world.roles(ref.guild_index) if r["id"] != str(ref.guild_id)
    )
    echo = await _interact(
        control, channel, name="echo",
        options={"text": "hi", "times": 2, "loud": True, "ratio": 0.5, "who": pong["user_id"],
                 "where": channel, "role": role, "thing": role, "file": "cat.png"},
    )  # fmt: skip
    assert echo["response"]["type"] == 4 and echo["response"]["data"]["flags"] == 64
    line = await bot.wait_line("^options ")
    opts = json.loads(line[len("options ") :])
    assert opts["text"] == "hi" and opts["times"] == 2 and opts["loud"] is True
    assert opts["ratio"] == 0.5
    assert opts["who"]["id"] == pong["user_id"] and opts["who"]["username"]
    assert opts["where"]["id"] == channel and opts["where"]["name"]
    assert opts["role"]["id"] == role and opts["thing"]["id"] == role
    assert opts["file"]["filename"] == "cat.png" and opts["file"]["url"]

    # A poll: buttons on the answer, a click updates the message.
    poll = await _interact(control, channel, name="poll")
    data = poll["response"]["data"]
    assert data["embeds"][0]["title"] == "Lunch?"
    assert [c["custom_id"] for c in data["components"][0]["components"]] == [
        "vote:pizza",
        "vote:salad",
    ]
    click = await _interact(
        control, channel, kind="component", message_id=poll["message_id"], custom_id="vote:salad"
    )
    assert click["response"]["type"] == 7
    assert click["response"]["data"]["content"].startswith("voted vote:salad by ")
    assert click["response"]["data"]["components"] == []

    menu = await _interact(control, channel, name="menu")
    picked = await _interact(
        control, channel, kind="component", message_id=menu["message_id"], custom_id="pick",
        values=["green", "red"],
    )  # fmt: skip
    assert picked["response"]["data"]["content"] == "picked green,red"

    # Modal round trip.
    form = await _interact(control, channel, name="form")
    assert form["response"]["type"] == 9
    assert form["response"]["data"]["title"] == "Tell me"
    submit = await _interact(
        control, channel, kind="modal", custom_id="form", fields={"name": "Ada"}
    )
    assert submit["response"]["data"]["content"] == "hello Ada"

    # Deferred, then edited and followed up.
    later = await _interact(control, channel, name="later")
    assert later["response"]["type"] == 5
    got = await control.get(f"/interactions/{later['id']}", followups=1, wait=10)
    assert got["message"]["content"] == "done later"
    assert got["followups"][0]["content"] == "and one more"

    # Delete the original answer, then a follow-up.
    gone = await _interact(control, channel, name="gone")
    got = await control.get(f"/interactions/{gone['id']}", followups=1, wait=10)
    assert got["followups"][0]["content"] == "deleted"

    # Autocomplete.
    auto = await _interact(
        control, channel, kind="autocomplete", name="search", options={"q": "ap"}
    )
    assert auto["response"]["type"] == 8
    assert [c["value"] for c in auto["response"]["data"]["choices"]] == ["apple", "apricot"]

    # Subcommand groups.
    cfg = await _interact(control, channel, name="config set color", options={"value": "blue"})
    assert cfg["response"]["data"]["content"] == "set/color=blue"
    show = await _interact(control, channel, name="config show")
    assert show["response"]["data"]["content"] == "show"

    # Context menus.
    user = await _interact(control, channel, kind="user_command", name="Inspect",
                           target_id=pong["user_id"])  # fmt: skip
    assert user["response"]["data"]["content"] == "user " + pong["user_id"]
    quoted = await control.inject(channel, "quote me")
    quote = await _interact(control, channel, kind="message_command", name="Quote",
                            target_id=quoted["id"])  # fmt: skip
    assert quote["response"]["data"]["content"] == "quote: quote me"

    # wait_for_component: the handler pauses until the click on its own answer.
    confirm = await _interact(control, channel, name="confirm")
    assert confirm["response"]["data"]["content"] == "sure?"
    await bot.wait_line("^waiting on ")
    yes = await _interact(
        control, channel, kind="component", message_id=confirm["message_id"], custom_id="yes"
    )
    assert yes["response"]["type"] == 7
    assert yes["response"]["data"]["content"] == "confirmed by " + yes["user_id"]
    assert "Traceback" not in bot.stderr
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0


async def test_failures_answer_the_user_and_the_bot_lives_on(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot = await ezlang_run(BOT, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    await _synced(control, 15)
    channel = await control.first_text_channel()

    boom = await _interact(control, channel, name="boom")
    assert boom["failed"] is False
    assert boom["response"]["data"]["flags"] == 64
    assert "went wrong" in boom["response"]["data"]["content"]
    await bot.wait_line("kaboom", stream="err")
    assert re.search(r"bot\.ez:\d+:\d+", bot.stderr)

    twice = await _interact(control, channel, name="twice")
    assert twice["response"]["type"] == 5
    await bot.wait_line("a modal must be the first answer", stream="err")

    slow = await _interact(control, channel, name="slow", wait=3.5)
    assert slow["failed"] is True and slow["response"] is None
    await bot.wait_line("too late", stream="err")
    assert "within 3 seconds" in bot.stderr and "interaction_defer" in bot.stderr

    # Still alive and answering.
    pong = await _interact(control, channel, name="ping")
    assert pong["response"]["data"]["content"] == "pong"
    assert "Traceback" not in bot.stderr
    assert "never retrieved" not in bot.stderr
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0


async def test_commands_sync_once_and_buttons_survive_a_restart(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    first = await ezlang_run(BOT, *sandbox_args(sandbox))
    await first.wait_line("^ready$")
    synced = await _synced(control, 15)
    assert synced["overwrites"] == 1
    await first.wait_line("registered 15 application command", stream="err")
    channel = await control.first_text_channel()
    poll = await _interact(control, channel, name="poll")
    first.proc.send_signal(signal.SIGTERM)
    assert await first.wait_exit() == 0

    # A new process: the same declarations are not written again, and the old message's
    # buttons are routed by custom id to the new process's on_button.
    second = await ezlang_run(BOT, *sandbox_args(sandbox))
    await second.wait_line("^ready$")
    await second.wait_line("15 application command.* unchanged", stream="err")
    assert second.proc.pid != first.proc.pid
    click = await _interact(
        control, channel, kind="component", message_id=poll["message_id"], custom_id="vote:pizza"
    )
    assert click["response"]["data"]["content"].startswith("voted vote:pizza")
    assert (await _commands(control))["overwrites"] == 1
    second.proc.send_signal(signal.SIGTERM)
    assert await second.wait_exit() == 0

    # A changed declaration is written (one more overwrite).
    third = await ezlang_run(
        BOT.replace('"Replies pong"', '"Replies pong!"'), *sandbox_args(sandbox)
    )
    await third.wait_line("registered 15 application command", stream="err")
    assert (await _commands(control))["overwrites"] == 2
    ping = next(c for c in (await _commands(control))["global"] if c["name"] == "ping")
    assert ping["description"] == "Replies pong!"
    third.proc.send_signal(signal.SIGTERM)
    assert await third.wait_exit() == 0


@pytest.mark.parametrize("how", ["--commands-guild", "EZLANG_COMMANDS_GUILD", "COMMANDS_GUILD="])
async def test_commands_guild_registers_to_one_guild(
    sandbox: Any, control: Control, ezlang_run: Any, how: str
) -> None:
    channel = await control.first_text_channel()
    guild = str(sandbox.world.channel(int(channel)).guild_id)
    program = 'slash_command("ping", "p", func(i) { interaction_reply(i, "pong") })\nbot_start()\n'
    args, env = list(sandbox_args(sandbox)), {}
    if how == "--commands-guild":
        args += ["--commands-guild", guild]
    elif how == "COMMANDS_GUILD=":
        args.append(f"COMMANDS_GUILD={guild}")
    else:
        env[how] = guild
    bot = await ezlang_run(program, *args, env=env)
    await bot.wait_line(f"registered 1 application command.* to guild {guild}", stream="err")
    data = await _commands(control)
    assert data["global"] == []
    assert [c["name"] for c in data["guilds"][guild]] == ["ping"]
    pong = await _interact(control, channel, name="ping")
    assert pong["response"]["data"]["content"] == "pong"
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0


OLDER = """
on_ready(func(client) {
    register_slash_command(client, null, {name: "hello", description: "Says hello",
        options: [{name: "who", type: "string", description: "whom", required: true}]})
    print("registered")
})
listen("interactionCreate", func(i) {
    if i.type == "command" and i.command == "hello" {
        reply_interaction(i, "hello " + i.options.who, true)
    }
})
on_message(func(message) {
    if message.content == "!menu" {
        send_message(message.channel_id, {content: "pick",
            components: [create_button("Ack", "secondary", "ack:1")]})
    }
    if message.content == "!reply" {
        reply(message, {embeds: [create_embed("T", "D", "red")],
            components: [create_action_row(create_button("Ack", "primary", "ack:2"))]})
    }
})
on_button("ack:", func(i) {
    interaction_defer(i)
    interaction_edit(i, {content: "acked " + i.custom_id, components: []})
})
slash_command("many", "Too many suggestions", {options: [
    {name: "q", type: "string", description: "q", autocomplete: true}]},
    func(i) { interaction_reply(i, "x") })
on_autocomplete("many", "q", func(i, typed) {
    let out = []
    for n in range(26) { append(out, typed + str(n)) }
    return out
})
bot_start()
"""


async def test_older_forms_deferred_updates_and_components_in_messages(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot = await ezlang_run(OLDER, *sandbox_args(sandbox))
    await bot.wait_line("^registered$")
    await _synced(control, 2)  # hello (upserted now) and many (declared), kept together
    channel = await control.first_text_channel()
    hello = await _interact(control, channel, name="hello", options={"who": "Ada"})
    assert hello["response"]["data"] == {**hello["response"]["data"], "content": "hello Ada"}
    assert hello["response"]["data"]["flags"] == 64

    # Components in send_message and reply; a deferred update (type 6) then an edit.
    for text, custom_id in (("!menu", "ack:1"), ("!reply", "ack:2")):
        await control.inject(channel, text)
        sent = await control.wait_for_bot_message(
            channel, lambda m, c=custom_id: any(
                b.get("custom_id") == c for row in m.get("components") or [] for b in row["components"]
            ),
        )  # fmt: skip
        click = await _interact(
            control, channel, kind="component", message_id=sent["id"], custom_id=custom_id
        )
        assert click["response"]["type"] == 6
        edited = await control.wait_for_bot_message(
            channel,
            lambda m, i=sent["id"], c=custom_id: m["id"] == i and m["content"] == f"acked {c}",
        )
        assert edited["components"] == []

    # An autocomplete handler returning 26 suggestions is an error with its position.
    await _interact(control, channel, kind="autocomplete", name="many", options={"q": "a"})
    await bot.wait_line("returned 26 choices", stream="err")
    assert re.search(r"bot\.ez:\d+:\d+", bot.stderr)
    assert "Traceback" not in bot.stderr
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0


async def test_a_click_nothing_handles_is_named_on_stderr(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    program = """slash_command("orphan", "A button nobody handles", func(i) {
    interaction_reply(i, {components: [create_button("Click", "primary", "nobody:1")]})
})
bot_start()
"""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await _synced(control, 1)
    channel = await control.first_text_channel()
    answer = await _interact(control, channel, name="orphan")
    await _interact(control, channel, kind="component", message_id=answer["message_id"],
                    custom_id="nobody:1", wait=0)  # fmt: skip
    await bot.wait_line(
        "a button with custom id 'nobody:1' was used, but no on_button", stream="err"
    )
    assert "Traceback" not in bot.stderr
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0


COLLECTOR_BOT = """\
on_ready(func(client) { print("ready") })
slash_command("poll", "a poll counted by an interaction collector", func(i) {
    let msg = interaction_reply(i, {content: "vote",
        components: [create_action_row(create_button("Yes", "success", "poll:yes"),
                                       create_button("No", "danger", "poll:no"))]})
    let votes = create_interaction_collector(msg, {max: 2, time: 30,
        filter: func(click) { return click.custom_id != "poll:no" }})
    on_collect(votes, func(click) { interaction_update(click, {content: "counted " + click.custom_id}) })
    on_collector_end(votes, func(collected, reason) { print("ended " + length(collected) + " " + reason) })
    print("polling " + msg.id)
})
bot_start()
"""


async def test_an_interaction_collector_collects_clicks_on_its_message(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    bot = await ezlang_run(COLLECTOR_BOT, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    await _synced(control, 1)
    channel = await control.first_text_channel()
    poll = await _interact(control, channel, name="poll")
    await bot.wait_line("^polling ")

    async def click(custom_id: str) -> dict[str, Any]:
        return await _interact(
            control, channel, kind="component", message_id=poll["message_id"], custom_id=custom_id
        )

    first = await click("poll:yes")
    assert first["failed"] is False and first["response"]["type"] == 7
    assert first["response"]["data"]["content"] == "counted poll:yes"
    # The filter refuses "no": nothing answers it, so Discord shows the user a failure.
    refused = await click("poll:no")
    assert refused["failed"] is True and refused["response"] is None
    second = await click("poll:yes")
    assert second["response"]["data"]["content"] == "counted poll:yes"
    await bot.wait_line("^ended 2 limit$")
    # A click after the collector ended is nobody's: one clear line on stderr.
    await click("poll:yes")
    await bot.wait_line("no on_button handler matches it", stream="err")
    assert "Traceback" not in bot.stderr
    bot.proc.send_signal(signal.SIGTERM)
    assert await bot.wait_exit() == 0
