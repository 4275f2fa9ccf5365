"""EasyLang getters for Discord objects (``LOOKUP_BUILTINS``): ``get_guild``, ``get_channel``,
``get_user``, ``get_role``, ``fetch_member``, ``list_guilds``.

``get_*`` look in what the bot already knows first and ask Discord only when it does not (a
guild of another shard, a user it has not seen); they return null when Discord says the thing
does not exist, so ``if get_user(id) == null`` is how a beginner checks. ``fetch_member``
always asks Discord and raises a DiscordError (10007 Unknown Member) for someone who is not
in the server, because a bot that moderates needs to know why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.messages import MemberObject, RoleObject, discord_error
from ezlang.discord.permission_names import names_of
from ezlang.discord.runtime import runtime
from ezlang.lang.registry import register

__all__ = ["BUILTINS"]

# Discord's "unknown …" codes: the id names nothing, so a getter answers null.
_UNKNOWN = {10003, 10004, 10011, 10013}


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _id_of(value: Any, what: str) -> int:
    if isinstance(value, dict):
        value = value.get("id")
    return convert.snowflake_arg(value, what=what)


def channel_object(data: dict[str, Any]) -> dict[str, Any]:
    """A channel (or thread) object from Discord's channel JSON (see ``convert``)."""
    return convert.channel_from_payload(data)


def role_object(r: discord.Role) -> dict[str, Any]:
    """``{id, name, color, position, permissions, mentionable, hoist, guild_id}``."""
    return RoleObject(
        id=str(r.id),
        name=r.name,
        color=r.color.value,
        position=r.position,
        # Discord's names, as has_permission() takes them ("view_channel", "ban_members").
        permissions=names_of(r.permissions.value),
        mentionable=r.mentionable,
        hoist=r.hoist,
        guild_id=str(r.guild.id),
    )


def member_object(m: discord.Member) -> dict[str, Any]:
    """A user object plus ``{guild_id, nick, roles, joined_at, timed_out_until}``."""
    base = convert.user(m) or {}
    until = m.timed_out_until
    return MemberObject(
        **base,
        guild_id=str(m.guild.id),
        nick=m.nick,
        roles=[str(r.id) for r in m.roles if not r.is_default()],
        joined_at=None if m.joined_at is None else m.joined_at.isoformat(),
        timed_out_until=None if until is None else until.isoformat(),
    )


async def get_guild(guild_id: Any) -> dict[str, Any] | None:
    """A server the bot is in, ``{id, name, member_count, shard_id, owner_id}``, or null."""
    what = "get_guild()"
    client = _client(what)
    gid = _id_of(guild_id, f"{what} guild id")
    guild = client.get_guild(gid)
    if guild is None:
        try:
            guild = await client.fetch_guild(gid, with_counts=True)
        except discord.HTTPException as exc:
            if exc.code in _UNKNOWN or exc.status == 403:
                return None  # Discord answers 403 for a guild the bot is not in
            raise discord_error(what, exc) from None
    return convert.guild(guild)


async def get_channel(channel_id: Any) -> dict[str, Any] | None:
    """A channel ``{id, name, type, guild_id, topic, position, parent_id}``, or null."""
    what = "get_channel()"
    client = _client(what)
    cid = _id_of(channel_id, f"{what} channel id")
    try:
        data = await client.http.get_channel(cid)
    except discord.HTTPException as exc:
        if exc.code in _UNKNOWN:
            return None
        raise discord_error(what, exc) from None
    return channel_object(dict(data))


async def get_user(user_id: Any) -> dict[str, Any] | None:
    """A user ``{id, username, tag, bot, display_name}``, or null."""
    what = "get_user()"
    client = _client(what)
    uid = _id_of(user_id, f"{what} user id")
    found = client.get_user(uid)
    if found is None:
        try:
            found = await client.fetch_user(uid)
        except discord.HTTPException as exc:
            if exc.code in _UNKNOWN:
                return None
            raise discord_error(what, exc) from None
    return convert.user(found)


async def get_role(guild_id: Any, role_id: Any) -> dict[str, Any] | None:
    """A role of a server, or null."""
    what = "get_role()"
    client = _client(what)
    gid = _id_of(guild_id, f"{what} guild id")
    rid = _id_of(role_id, f"{what} role id")
    guild = client.get_guild(gid)
    if guild is None:
        try:
            guild = await client.fetch_guild(gid)
        except discord.HTTPException as exc:
            if exc.code in _UNKNOWN or exc.status == 403:
                return None
            raise discord_error(what, exc) from None
    role = guild.get_role(rid)
    return None if role is None else role_object(role)


async def fetch_member(guild: Any, user_id: Any) -> dict[str, Any]:
    """A member of a server, from Discord; a DiscordError (10007) if they are not in it."""
    what = "fetch_member()"
    client = _client(what)
    gid = _id_of(guild, f"{what} guild")
    uid = _id_of(user_id, f"{what} user id")
    found = client.get_guild(gid)
    try:
        if found is None:
            found = await client.fetch_guild(gid)
        member = await found.fetch_member(uid)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return member_object(member)


def list_guilds() -> list[dict[str, Any]]:
    """The servers this bot process serves (with sharding: this shard's), by name."""
    client = _client("list_guilds()")
    return [convert.guild(g) for g in sorted(client.guilds, key=lambda g: (g.name, g.id))]


BUILTINS: dict[str, Callable[..., Any]] = {
    "get_guild": get_guild,
    "get_channel": get_channel,
    "get_user": get_user,
    "get_role": get_role,
    "fetch_member": fetch_member,
    "list_guilds": list_guilds,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
