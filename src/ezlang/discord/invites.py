"""EasyLang builtins for server invites (``INVITE_BUILTINS``): ``create_invite(channel,
options?)``, ``fetch_invites(guild)`` (also ``get_guild_invites``), ``get_channel_invites``,
``get_invite(code)`` and ``delete_invite(code_or_invite)``.

An invite object is ``{code, url, channel_id, guild_id, inviter_id, uses, max_uses, max_age,
temporary, created_at, expires_at}``. Creating needs Create Invite, listing a channel's
invites Manage Channels, listing a server's Manage Server, and deleting Manage Channels (or
Manage Server); each refusal names the permission. ``get_invite`` answers null for a code
that does not exist (or expired), like the other ``get_*`` builtins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.channels import check_options
from ezlang.discord.messages import discord_error
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS"]

MAX_AGE = 604_800
MAX_USES = 100
_OPTIONS = ("max_age", "max_uses", "temporary", "unique")


class InviteObject(convert.DiscordObject):
    what = "an invite"


def invite_object(data: dict[str, Any]) -> dict[str, Any]:
    """An EasyLang invite from Discord's invite JSON (metadata fields null when absent)."""
    guild = data.get("guild") or {}
    channel = data.get("channel") or {}
    inviter = data.get("inviter") or {}
    return InviteObject(
        code=data["code"],
        url=f"https://discord.gg/{data['code']}",
        channel_id=convert.snowflake(int(channel["id"])) if channel.get("id") else None,
        guild_id=convert.snowflake(int(guild["id"])) if guild.get("id") else None,
        inviter_id=convert.snowflake(int(inviter["id"])) if inviter.get("id") else None,
        uses=data.get("uses"),
        max_uses=data.get("max_uses"),
        max_age=data.get("max_age"),
        temporary=data.get("temporary"),
        created_at=data.get("created_at"),
        expires_at=data.get("expires_at"),
    )


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _whole(options: dict[str, Any], key: str, top: int, what: str) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise EzError("TypeError", f"{what}: {key} must be a whole number, not {to_repr(value)}")
    if not 0 <= value <= top:
        raise EzError(
            "ValueError",
            f"{what}: {key} must be between 0 and {top} (0 means no limit), not {int(value)}",
        )
    return int(value)


async def create_invite(channel: Any, options: Any = None) -> dict[str, Any]:
    """An invite to a channel. ``options``: ``{max_age}`` (seconds, 0 = never expires, default
    86400), ``{max_uses}`` (0–100, 0 = unlimited), ``{temporary}``, ``{unique}`` (false: an
    invite with the same settings may be answered again)."""
    what = "create_invite()"
    client = _client(what)
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    options = check_options(options, _OPTIONS, what)
    max_age = _whole(options, "max_age", MAX_AGE, what)
    max_uses = _whole(options, "max_uses", MAX_USES, what)
    for key in ("temporary", "unique"):
        if not isinstance(options.get(key, False), bool):
            raise EzError(
                "TypeError", f"{what}: {key} must be true or false, not {to_repr(options[key])}"
            )
    try:
        data = await client.http.create_invite(
            cid,
            max_age=86_400 if max_age is None else max_age,
            max_uses=max_uses or 0,
            temporary=bool(options.get("temporary", False)),
            unique=bool(options.get("unique", False)),
        )
    except discord.HTTPException as exc:
        raise discord_error(what, exc, "Create Invite") from None
    return invite_object(dict(data))


async def fetch_invites(guild: Any) -> list[dict[str, Any]]:
    """Every invite of a server (needs Manage Server)."""
    what = "fetch_invites()"
    client = _client(what)
    gid = convert.snowflake_arg(
        guild.get("id") if isinstance(guild, dict) else guild, what=f"{what} guild"
    )
    try:
        found = await client.http.invites_from(gid)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, "Manage Server") from None
    return [invite_object(dict(d)) for d in found]


async def get_channel_invites(channel: Any) -> list[dict[str, Any]]:
    """The invites of one channel (needs Manage Channels)."""
    what = "get_channel_invites()"
    client = _client(what)
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    try:
        found = await client.http.invites_from_channel(cid)
    except discord.HTTPException as exc:
        raise discord_error(what, exc, "Manage Channels") from None
    return [invite_object(dict(d)) for d in found]


def _code(value: Any, what: str) -> str:
    if isinstance(value, dict):
        value = value.get("code")
    if not isinstance(value, str) or not value.strip():
        raise EzError(
            "TypeError", f"{what} needs an invite code, URL or invite object, not {to_repr(value)}"
        )
    try:
        return discord.utils.resolve_invite(value.strip()).code
    except ValueError:
        # discord.py's own wording names neither the builtin nor what an invite code looks like.
        raise EzError(
            "ValueError",
            f"{what}: {to_repr(value)} is not an invite code or URL; a code is letters, digits,"
            " '-' and '_' (like \"abc123\"), a URL looks like https://discord.gg/abc123",
        ) from None


async def get_invite(code: Any) -> dict[str, Any] | None:
    """The invite for a code or ``https://discord.gg/…`` URL, or null if there is none."""
    what = "get_invite()"
    client = _client(what)
    try:
        data = await client.http.get_invite(_code(code, what), with_counts=True)
    except discord.HTTPException as exc:
        if exc.code == 10006:
            return None
        raise discord_error(what, exc) from None
    return invite_object(dict(data))


async def delete_invite(code_or_invite: Any) -> None:
    """Delete an invite (needs Manage Channels in its channel, or Manage Server)."""
    what = "delete_invite()"
    client = _client(what)
    try:
        await client.http.delete_invite(_code(code_or_invite, what))
    except discord.HTTPException as exc:
        raise discord_error(what, exc, "Manage Channels") from None


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_invite": create_invite,
    "fetch_invites": fetch_invites,
    "get_guild_invites": fetch_invites,
    "get_channel_invites": get_channel_invites,
    "get_invite": get_invite,
    "delete_invite": delete_invite,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
