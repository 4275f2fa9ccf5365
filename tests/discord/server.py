"""Helpers for the member, role and moderation tests: start a bot, and read or change the
sandbox's server model through its control API (as the server owner would)."""

from __future__ import annotations

from typing import Any

from .conftest import Control
from .processes import sandbox_args


async def start_bot(
    program: str, sandbox: Any, control: Control, ezlang_run: Any
) -> tuple[Any, str, str]:
    """Run ``program`` (it prints ``ready``); returns the bot, a text channel of guild 0 and
    that guild's id."""
    bot = await ezlang_run(program, *sandbox_args(sandbox))
    await bot.wait_line("^ready$")
    channel = await control.first_text_channel()
    return bot, channel, str(int(channel) >> 22 << 22)


async def guild_state(control: Control, guild: str) -> dict[str, Any]:
    """``GET {control}/guilds/{id}/state``."""
    return await control.get(f"/guilds/{guild}/state")


async def member_state(control: Control, guild: str, user: str) -> dict[str, Any]:
    """One member's entry of the guild state."""
    state = await guild_state(control, guild)
    return next(m for m in state["members"] if m["user_id"] == user)


async def as_owner(control: Control, method: str, path: str, body: dict[str, Any]) -> None:
    """A control call that must succeed (``PUT …/bot_permissions``, ``PATCH …/roles/{id}``)."""
    async with control.http.request(method, control.url + path, json=body) as resp:
        assert resp.status == 200, await resp.text()
