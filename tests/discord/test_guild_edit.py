"""Renaming a server through a real ``ezlang run``: the owner renames it (control API) and the
bot's ``guildUpdate`` handler gets the old and the new name; ``edit_guild`` is refused with
a DiscordError naming Manage Server until the bot's role has it, then renames the server."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from .conftest import Control
from .server import as_owner, guild_state, start_bot

BOT = """set_intents(["guilds", "guild_messages", "message_content"])
on_ready(func(client) { print("ready") })
listen("guildUpdate", func(old, g) { print("renamed " + old.name + " -> " + g.name) })
on_message(func(message) {
    let w = split(message.content, " ")
    try {
        if w[0] == "!rename" {
            let g = edit_guild(message.guild_id, {name: "Bot Bakery", reason: "rebrand"})
            print("edited " + g.name)
        } else if w[0] == "!short" {
            edit_guild(message.guild_id, {name: "x"})
        } else if w[0] == "!icon" {
            print("icon set " + edit_guild(message.guild_id, {icon: w[1]}).name)
        } else if w[0] == "!typo" {
            edit_guild(message.guild_id, {nmae: "Bot Bakery"})
        }
    } catch err {
        print("caught " + err.kind + ": " + err.message)
    }
})
bot_start()
"""


async def test_rename_reaches_guild_update_and_edit_guild_needs_manage_server(
    sandbox: Any, control: Control, ezlang_run: Any, tmp_path: Path
) -> None:
    bot, channel, guild = await start_bot(BOT, sandbox, control, ezlang_run)
    old = sandbox.world.guild_name(0)

    await as_owner(control, "PATCH", f"/guilds/{guild}", {"name": "Owner's Corner"})
    assert await bot.wait_line("^renamed ") == f"renamed {old} -> Owner's Corner"

    # The seed bot role lacks Manage Server: refused, and the error says what to fix.
    await control.inject(channel, "!rename")
    line = await bot.wait_line(r"^caught .*edit_guild\(\)")
    assert line.startswith("caught DiscordError: edit_guild() failed: 403")
    assert "lacks Manage Server" in line
    assert (await guild_state(control, guild))["name"] == "Owner's Corner"

    await control.inject(channel, "!short")
    line = await bot.wait_line(r"^caught .*name must")
    assert line == 'caught ValueError: edit_guild() name must have 2 to 100 characters, not "x"'
    await control.inject(channel, "!typo")
    assert "did you mean 'name'?" in await bot.wait_line(r"^caught .*nmae")
    await control.inject(channel, "!icon ⭐")
    line = await bot.wait_line(r"^caught .*icon must")
    assert line.startswith("caught TypeError: edit_guild() icon must be the path of a PNG")

    await as_owner(
        control,
        "PUT",
        f"/guilds/{guild}/bot_permissions",
        {"permissions": ["view_channel", "send_messages", "manage_guild"]},
    )
    await control.inject(channel, "!rename")
    assert await bot.wait_line("^edited ") == "edited Bot Bakery"
    assert await bot.wait_line("^renamed .*Bot Bakery") == "renamed Owner's Corner -> Bot Bakery"
    assert (await guild_state(control, guild))["name"] == "Bot Bakery"

    # An icon is an image file; Discord keeps its hash.
    png = tmp_path / "logo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n not really pixels")
    assert sandbox.world.partial_guild(0)["icon"] is None
    await control.inject(channel, f"!icon {png}")
    assert await bot.wait_line("^icon set ") == "icon set Bot Bakery"
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    assert sandbox.world.partial_guild(0)["icon"] == hashlib.md5(uri.encode()).hexdigest()
    assert "Traceback" not in bot.stderr
