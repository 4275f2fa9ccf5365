"""An independent discord.py bot written with discord.py's own interaction API
(``app_commands.CommandTree``, a persistent ``ui.View``, a ``ui.Modal``) syncs its commands
to the sandbox and answers a user who acts through the control API."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord
from discord import app_commands, ui

from ezlang.sandbox import Sandbox

from .conftest import PacedClient


class Persistent(ui.View):
    """A view that survives restarts: no timeout, fixed custom ids."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @ui.button(label="Vote", style=discord.ButtonStyle.primary, custom_id="persistent:vote")
    async def vote(self, interaction: discord.Interaction, button: ui.Button) -> None:
        await interaction.response.edit_message(
            content=f"voted by {interaction.user.id}", view=None
        )


class Form(ui.Modal, title="Tell me"):
    name: ui.TextInput = ui.TextInput(label="Name", custom_id="name", max_length=20)

    def __init__(self) -> None:
        super().__init__(custom_id="form")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Hi {self.name.value}", ephemeral=True)


class TreeBot(PacedClient):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tree = app_commands.CommandTree(self)
        self.synced: list[app_commands.AppCommand] = []

        @self.tree.command(description="Replies with a button")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Pong!", view=Persistent())

        @self.tree.command(description="Says it again")
        @app_commands.describe(text="What to say", times="How often")
        async def echo(
            interaction: discord.Interaction,
            text: str,
            times: app_commands.Range[int, 1, 5] = 1,
            who: discord.Member | None = None,
        ) -> None:
            tail = f" for {who.id}" if who else ""
            await interaction.response.send_message(" ".join([text] * times) + tail)

        @echo.autocomplete("text")
        async def echo_text(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [
                app_commands.Choice(name=w, value=w)
                for w in ("apple", "apricot")
                if w.startswith(current)
            ]

        @self.tree.command(description="Opens a form")
        async def form(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(Form())

        @self.tree.command(description="Takes its time")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send("done slowly")

        @self.tree.context_menu(name="Greet")
        async def greet(interaction: discord.Interaction, member: discord.Member) -> None:
            await interaction.response.send_message(f"Hello {member.id}", ephemeral=True)

    async def setup_hook(self) -> None:
        self.add_view(Persistent())
        self.synced = await self.tree.sync()


async def interact(http: aiohttp.ClientSession, sb: Sandbox, **body: Any) -> dict[str, Any]:
    async with http.post(sb.control_url + "/interactions", json=body) as r:
        answer = await r.json()
        assert r.status == 200, answer
        return answer


async def test_discordpy_tree_bot_answers_commands_buttons_and_modals(
    sandbox: Sandbox, clients, caplog
):
    rc = clients(sandbox.token, cls=TreeBot)
    await rc.wait_ready()
    bot: TreeBot = rc.client  # type: ignore[assignment]
    assert {c.name for c in bot.synced} == {"ping", "echo", "form", "slow", "Greet"}
    assert sandbox.app_commands.overwrites == 1
    g = sandbox.guilds_for_shard(0, 1)[4]
    cid = g["text_channel_ids"][0]
    async with aiohttp.ClientSession() as http:
        answer = await interact(http, sandbox, channel_id=cid, name="ping")
        assert answer["response"]["type"] == 4 and not answer["failed"]
        assert answer["response"]["data"]["content"] == "Pong!"
        msg = sandbox.find_message(int(cid), answer["message_id"])
        assert (
            msg is not None
            and msg["components"][0]["components"][0]["custom_id"] == "persistent:vote"
        )

        click = await interact(
            http, sandbox, channel_id=cid, kind="component",
            message_id=answer["message_id"], custom_id="persistent:vote",
        )  # fmt: skip
        assert click["response"]["type"] == 7 and click["message_id"] == answer["message_id"]
        assert msg["content"] == f"voted by {click['user_id']}" and msg["components"] == []

        echo = await interact(
            http, sandbox, channel_id=cid, name="echo",
            options={"text": "hey", "times": 3, "who": g["member_ids"][1]},
        )  # fmt: skip
        assert echo["response"]["data"]["content"] == f"hey hey hey for {g['member_ids'][1]}"

        auto = await interact(
            http, sandbox, channel_id=cid, kind="autocomplete", name="echo", options={"text": "apr"}
        )
        assert auto["response"] == {
            "type": 8,
            "data": {"choices": [{"name": "apricot", "value": "apricot"}]},
        }

        shown = await interact(http, sandbox, channel_id=cid, name="form")
        assert shown["response"]["type"] == 9 and shown["response"]["data"]["custom_id"] == "form"
        done = await interact(
            http, sandbox, channel_id=cid, kind="modal", custom_id="form", fields={"name": "Ada"}
        )
        assert done["response"]["data"]["content"] == "Hi Ada" and done["ephemeral"] is True

        slow = await interact(http, sandbox, channel_id=cid, name="slow")
        assert slow["response"]["type"] == 5
        async with http.get(
            f"{sandbox.control_url}/interactions/{slow['id']}",
            params={"followups": "1", "wait": "5"},
        ) as r:
            later = await r.json()
        assert later["followups"][0]["content"] == "done slowly"
        assert later["message"]["content"] == "done slowly"  # it replaced the thinking message

        # The Python helper mirrors POST /interactions.
        greet = await sandbox.interact(
            channel_id=cid,
            kind="user_command",
            name="Greet",
            target_id=g["member_ids"][2],
        )
        assert greet["response"]["data"]["content"] == f"Hello {g['member_ids'][2]}"
    assert sandbox.interactions.failed == 0 and rc.error is None
    # discord.py parsed every payload (interactions, interaction messages) without complaint.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
