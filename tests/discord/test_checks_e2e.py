"""Command checks end to end: a real ``ezlang run`` bot, users acting through the sandbox's
control API. A refused user gets an ephemeral answer that says what is missing and the
handler does not run; an allowed user gets the handler's answer. Also the older EasyLang's
``register_command`` and context-menu forms, ``run_checks`` by hand (from
``interactionCreate`` and from a prefix command) and mistakes in checks."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from .conftest import Control, wait_until
from .processes import sandbox_args

pytestmark = pytest.mark.timeout(180)

BOT = """on_ready(func(client) { print("ready") })
slash_command("ban", "Ban someone", {checks: [require_permission("ban_members")]}, func(i) {
    print("ban ran by " + i.user.id)
    print("member can ban " + has_permission(i.member, "ban_members") + " " + has_permission(i, "BAN_MEMBERS"))
    interaction_reply(i, "banned")
})
slash_command("helpers", "Helpers only", func(i) {
    print("helpers ran by " + i.user.id)
    interaction_reply(i, "hi helper")
})
apply_checks("helpers", [require_role(get_argument("ROLE"))])
slash_command("serveronly", "Not in DMs", {checks: [guild_only()]}, func(i) {
    print("serveronly ran by " + i.user.id)
    interaction_reply(i, "in a server")
})
slash_command("shutdown", "Owner only", {checks: [owner_only()]}, func(i) {
    print("shutdown ran by " + i.user.id)
    interaction_reply(i, "bye")
})
register_command_check("not_blocked", func(i) {
    if i.user.id == get_argument("BLOCKED") { return "You are blocked from /custom." }
    return true
})
slash_command("custom", "Custom checks", {checks: ["not_blocked", func(i) { return i.locale != "fr" }]},
    func(i) {
        print("custom ran by " + i.user.id + " " + i.locale)
        interaction_reply(i, "custom ok")
    })
user_command("Inspect", func(i) {
    print("inspect ran by " + i.user.id)
    interaction_reply(i, "inspected")
}, {checks: [require_permission("KickMembers")]})
slash_command("config", "Subcommand checks", {subcommands: [
    {name: "show", description: "anyone"},
    {name: "reset", description: "administrators"}]}, func(i) {
    print("config " + i.subcommand + " ran by " + i.user.id)
    interaction_reply(i, "config " + i.subcommand)
})
apply_checks("config reset", [require_permission("administrator")])
apply_checks("config", [guild_only()])  // the command's checks hold for each subcommand
register_command({name: "hello", description: "The older form", checks: [guild_only()],
    execute: func(i) { interaction_reply(i, "hello there") }})
register_command({name: "legacy", description: "Answered by interactionCreate"})
apply_checks("legacy", [require_permission("manage_messages")])
listen("interactionCreate", func(i) {
    if i.command == "legacy" {
        let r = run_checks("legacy", i)
        if r.passed { interaction_reply(i, "legacy ok") }
        else { interaction_reply(i, {content: "legacy: " + r.reason, ephemeral: true}) }
    }
})
register_user_context_menu("Wave", func(i) { interaction_reply(i, "wave " + i.target.id) })
register_message_context_menu("Echo", func(i) { interaction_reply(i, "echo " + i.message.content) })
on_message(func(m) {
    if m.content == "!ban" {
        let r = run_checks("ban", m)
        print("prefix ban by " + m.author.id + " " + r.passed + " " + r.reason)
    } else if m.content == "!reset" {
        print("prefix reset " + run_checks("config reset", m).reason)
    }
})
print("checks " + json_stringify(get_command_checks("ban")) + " " + length(get_command_checks("custom")))
bot_start()
"""


async def _use(control: Control, **body: Any) -> dict[str, Any]:
    result = await control.post("/interactions", body)
    assert result["failed"] is False and result["response"] is not None, result
    return result


def _said(result: dict[str, Any]) -> tuple[str, bool]:
    """(the answer's text, whether it was ephemeral)."""
    data = result["response"]["data"]
    return data["content"], bool(data.get("flags", 0) & 64)


async def test_checks_refuse_with_a_clear_ephemeral_answer_and_the_handler_does_not_run(
    sandbox: Any, control: Control, ezlang_run: Any
) -> None:
    channel = await control.first_text_channel()
    ref = sandbox.world.channel(int(channel))
    owner, plain, helper = (str(u) for u in sandbox.world.member_ids(ref.guild_index)[:3])
    app_owner = str(sandbox.world.user_id(0))
    role = next(
        r for r in sandbox.world.roles(ref.guild_index) if int(r["id"]) == ref.guild_id | 34
    )
    # The helper gets the role (as a moderator would, through the API).
    headers = {"Authorization": f"Bot {sandbox.token}"}
    url = f"{sandbox.api_url}/guilds/{ref.guild_id}/members/{helper}/roles/{role['id']}"
    async with aiohttp.ClientSession() as http, http.put(url, headers=headers) as r:
        assert r.status == 204
    bot = await ezlang_run(BOT, *sandbox_args(sandbox), f"ROLE={role['id']}", f"BLOCKED={plain}")
    await bot.wait_line("^ready$")
    assert bot.out[0] == 'checks [{"kind":"permission","permission":"ban_members"}] 2'

    async def synced() -> bool:
        return len((await control.get("/commands"))["global"]) == 11

    await wait_until(synced, what="11 global commands")

    def use(name: str, user: str, **more: Any) -> Any:
        body = {"name": name, "user_id": user, **more}
        if not more.get("dm"):
            body["channel_id"] = channel
        return _use(control, **body)

    # require_permission: a plain member is refused, the owner is allowed.
    assert _said(await use("ban", plain)) == (
        "You need the Ban Members permission to use /ban.",
        True,
    )
    assert _said(await use("ban", owner)) == ("banned", False)
    await bot.wait_line(f"^ban ran by {owner}$")
    await bot.wait_line("^member can ban true true$")  # Discord's member.permissions
    assert _said(await use("ban", plain, dm=True)) == ("/ban can only be used in a server.", True)

    # require_role (attached with apply_checks): only a member with the role.
    refused = f"You need the {role['name']} role to use /helpers."
    assert _said(await use("helpers", plain)) == (refused, True)
    assert _said(await use("helpers", owner)) == (refused, True)  # a role, not a permission
    assert _said(await use("helpers", helper)) == ("hi helper", False)

    # guild_only and owner_only (the application's owner, from /oauth2/applications/@me).
    assert _said(await use("serveronly", plain, dm=True)) == (
        "/serveronly can only be used in a server.",
        True,
    )
    assert _said(await use("serveronly", plain)) == ("in a server", False)
    assert _said(await use("shutdown", plain, dm=True)) == (
        "Only the bot's owner can use /shutdown.",
        True,
    )
    assert app_owner not in (plain, helper)
    assert _said(await use("shutdown", helper)) == ("Only the bot's owner can use /shutdown.", True)
    assert _said(await use("shutdown", app_owner, dm=True)) == ("bye", False)

    # Custom checks: a named one refusing with its own text, an inline one returning false.
    assert _said(await use("custom", plain)) == ("You are blocked from /custom.", True)
    assert _said(await use("custom", owner, locale="fr")) == ("You can't use /custom.", True)
    assert _said(await use("custom", owner)) == ("custom ok", False)

    # A context menu and one subcommand.
    target = {"kind": "user_command", "target_id": owner}
    assert _said(await use("Inspect", plain, **target)) == (
        "You need the Kick Members permission to use Inspect.",
        True,
    )
    assert _said(await use("Inspect", owner, **target)) == ("inspected", False)
    assert _said(await use("config show", plain)) == ("config show", False)
    assert _said(await use("config reset", plain)) == (
        "You need the Administrator permission to use /config reset.",
        True,
    )
    assert _said(await use("config reset", owner)) == ("config reset", False)
    assert _said(await use("config show", plain, dm=True)) == (
        "/config show can only be used in a server.",
        True,
    )

    # The older forms: register_command with a handler and checks, without a handler
    # (interactionCreate + run_checks), and the two context-menu names.
    assert _said(await use("hello", plain)) == ("hello there", False)
    assert _said(await use("hello", plain, dm=True)) == (
        "/hello can only be used in a server.",
        True,
    )
    assert _said(await use("legacy", plain)) == (
        "legacy: You need the Manage Messages permission to use /legacy.",
        True,
    )
    assert _said(await use("legacy", owner)) == ("legacy ok", False)
    assert _said(await use("Wave", plain, kind="user_command", target_id=owner)) == (
        f"wave {owner}",
        False,
    )
    quoted = await control.inject(channel, "say it")
    echo = await use("Echo", plain, kind="message_command", target_id=quoted["id"])
    assert _said(echo) == ("echo say it", False)

    # run_checks on a prefix command: the author's permissions in the message's channel.
    await control.post("/messages", {"channel_id": channel, "content": "!ban", "author_id": plain})
    await bot.wait_line(
        f"^prefix ban by {plain} false You need the Ban Members permission to use /ban.$"
    )
    await control.post("/messages", {"channel_id": channel, "content": "!ban", "author_id": owner})
    await bot.wait_line(f"^prefix ban by {owner} true null$")
    await control.post(
        "/messages", {"channel_id": channel, "content": "!reset", "author_id": plain}
    )
    await bot.wait_line(
        "^prefix reset You need the Administrator permission to use /config reset.$"
    )

    # Every refused handler stayed silent; the allowed ones ran once each.
    ran = [line for line in bot.out if " ran by " in line]
    assert ran == [
        f"ban ran by {owner}",
        f"helpers ran by {helper}",
        f"serveronly ran by {plain}",
        f"shutdown ran by {app_owner}",
        f"custom ran by {owner} en-US",
        f"inspect ran by {owner}",
        f"config show ran by {plain}",
        f"config reset ran by {owner}",
    ]
    assert "Traceback" not in bot.stderr


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            'slash_command("ban", "x", {checks: [require_permission("ban_member")]}, func(i) {})',
            'require_permission(): unknown permission "ban_member" (did you mean "ban_members"?)',
        ),
        (
            'apply_checks("ban", ["nope"])',
            'apply_checks(): no check is named "nope"; register it first with '
            "register_command_check",
        ),
        ('apply_checks("ban", [42])', "apply_checks(): a check is require_permission(…)"),
        ("require_role(null)", "require_role() role id must be an id"),
    ],
)
async def test_mistakes_in_checks_are_errors_at_their_line(
    ezlang_run: Any, line: str, message: str
) -> None:
    proc = await ezlang_run(f'print("start")\n{line}\nbot_start()\n')
    assert await proc.wait_exit() == 1
    assert message in proc.stderr and "bot.ez:2" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
