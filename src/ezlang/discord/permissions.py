"""Permissions for EasyLang bots (``PERMISSION_BUILTINS``): ``has_permission``,
``has_permissions``, ``calculate_permissions``, ``get_channel_permissions``, the bitfield helpers
and channel permission overwrites.

**Names** in every spelling (``"ban_members"``, ``"BanMembers"``, ``"BAN_MEMBERS"``, ``"Ban
Members"``) are parsed, listed and labelled by :mod:`ezlang.discord.permission_names`, the one
table every builtin uses; what EasyLang returns uses Discord's documented names.

**Bitfields** are strings of the integer (``"2048"``), exactly as Discord sends them: Discord
serialises permissions as strings because the set keeps growing past the 53 bits an EasyLang
(JavaScript-like) number holds exactly — the same reason ids are strings. Every builtin also
takes a number, a name or an array of names where a bitfield is expected.

**Effective permissions** are discord.py's own arithmetic (``GuildChannel.permissions_for``,
``Member.guild_permissions``: owner, @everyone and roles, administrator, then the channel's
overwrites for @everyone, the roles and the member, and a timeout), on the objects the bot
already holds; what it does not hold (a guild of another shard, a member without the members
intent) is fetched from Discord first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.messages import MemberObject, RoleObject, discord_error
from ezlang.discord.permission_names import (
    ALIASES,
    NAMES,
    bits_of,
    label,
    names_of,
    permission_bit,
)
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = [
    "ALIASES",
    "BUILTINS",
    "NAMES",
    "bits_of",
    "label",
    "names_of",
    "permission_bit",
]


# ---- bitfield builtins ---------------------------------------------------------------------


def _bitfield(bits: int) -> str:
    return str(bits)


def create_permission_bitfield(permissions: Any) -> str:
    """``["send_messages", "embed_links"]`` → ``"18432"``."""
    return _bitfield(bits_of(permissions, "create_permission_bitfield()"))


def add_permissions(bitfield: Any, permissions: Any) -> str:
    """The bitfield with ``permissions`` added."""
    what = "add_permissions()"
    return _bitfield(bits_of(bitfield, what) | bits_of(permissions, what))


def remove_permissions(bitfield: Any, permissions: Any) -> str:
    """The bitfield without ``permissions``."""
    what = "remove_permissions()"
    return _bitfield(bits_of(bitfield, what) & ~bits_of(permissions, what))


# ---- who and where ---------------------------------------------------------------------------


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _user_id(value: Any, what: str) -> int:
    """A user id from an id, a user/member object, a message (its author) or an interaction."""
    if isinstance(value, dict):
        if isinstance(value.get("author"), dict):  # a message
            value = value["author"]
        elif isinstance(value.get("user"), dict):  # an interaction
            value = value["user"]
        value = value.get("id")
    return convert.snowflake_arg(value, what=what)


def _guild_id_of(value: Any) -> int | None:
    if isinstance(value, dict) and value.get("guild_id") is not None:
        return convert.snowflake_arg(value["guild_id"], what="guild_id")
    return None


async def _guild(client: discord.Client, guild_id: int, what: str) -> discord.Guild:
    """The guild with its roles: the cached one, or fetched (another shard's)."""
    guild = client.get_guild(guild_id)
    if guild is not None and not guild.unavailable:
        return guild
    try:
        return await client.fetch_guild(guild_id)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def _member(guild: discord.Guild, user_id: int, what: str) -> discord.Member:
    member = guild.get_member(user_id)
    if member is not None:
        return member
    try:
        return await guild.fetch_member(user_id)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def _channel(client: discord.Client, value: Any, what: str) -> Any:
    """A server channel (or thread: ``permissions_for`` asks its parent) bound to a guild
    whose roles are known (fetched when not cached)."""
    # An id, a channel object, or a message / interaction (their channel_id).
    cid = convert.channel_id_of(value, what=f"{what} channel")
    cached = client.get_channel(cid)
    in_guild = isinstance(cached, discord.abc.GuildChannel | discord.Thread)
    if in_guild and not cached.guild.unavailable:  # type: ignore[union-attr]
        return cached
    if cached is not None and not in_guild:
        raise EzError("ValueError", f"{what}: that is a DM channel; permissions are per server")
    try:
        data: dict[str, Any] = dict(await client.http.get_channel(cid))
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    if data.get("guild_id") is None:
        raise EzError("ValueError", f"{what}: that is a DM channel; permissions are per server")
    guild = await _guild(client, int(data["guild_id"]), what)
    try:
        return await guild.fetch_channel(cid)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def _channel_bits(member: Any, channel: Any, what: str) -> int:
    client = _client(what)
    uid = _user_id(member, f"{what} member")
    ch = await _channel(client, channel, what)
    m = await _member(ch.guild, uid, what)
    return ch.permissions_for(m).value


async def _guild_bits(member: Any, what: str) -> int:
    """Guild-wide permissions of a member object (Discord's when it came with an interaction)."""
    from ezlang.discord.interaction_object import InteractionObject

    if isinstance(member, InteractionObject):
        if member.native.guild_id is None:
            raise EzError("ValueError", f"{what}: this interaction came from a DM, not a server")
        # What Discord computed for the member in the interaction's channel.
        return member.native.permissions.value
    if isinstance(member, dict) and isinstance(member.get("permissions"), str):
        return bits_of(member["permissions"], what)  # i.member: Discord's own value
    guild_id = _guild_id_of(member)
    if guild_id is None:
        raise EzError(
            "TypeError",
            f"{what} needs a member of a server (from fetch_member(), i.member or a message), "
            f"not {to_repr(member)}; for a user id use has_permissions(user_id, permission, "
            "channel_id)",
        )
    client = _client(what)
    guild = await _guild(client, guild_id, what)
    m = await _member(guild, _user_id(member, f"{what} member"), what)
    return m.guild_permissions.value


# ---- permission builtins ---------------------------------------------------------------------


async def has_permission(member: Any, permission: Any) -> bool:
    """True if ``member`` has ``permission`` in its server (administrators and the owner have
    every one). With the interaction or ``i.member``, Discord's value for that channel."""
    what = "has_permission()"
    bit = permission_bit(permission, what)
    return bool(await _guild_bits(member, what) & bit)


async def has_permissions(member_id: Any, permissions: Any, channel_id: Any = None) -> bool:
    """True if the member has every one of ``permissions`` — in ``channel_id`` (its
    overwrites applied) or, without a channel, in the server of a member object."""
    what = "has_permissions()"
    wanted = bits_of(permissions, what)
    if channel_id is None:
        bits = await _guild_bits(member_id, what)
    else:
        bits = await _channel_bits(member_id, channel_id, what)
    return bits & wanted == wanted


async def calculate_permissions(member_id: Any, channel_id: Any) -> str:
    """The member's permissions in the channel as Discord computes them, as a bitfield."""
    return _bitfield(await _channel_bits(member_id, channel_id, "calculate_permissions()"))


async def get_channel_permissions(channel_id: Any, member_id: Any) -> list[str]:
    """The names of the member's permissions in the channel."""
    return names_of(await _channel_bits(member_id, channel_id, "get_channel_permissions()"))


# ---- overwrites ----------------------------------------------------------------------------

ROLE, MEMBER = 0, 1
_TYPE_NAMES = {ROLE: "role", MEMBER: "member"}


class OverwriteObject(convert.DiscordObject):
    what = "a permission overwrite"


def overwrite_object(channel_id: int, data: Any) -> dict[str, Any]:
    """``{channel_id, id, type: "role"|"member", allow: [names], deny: [names]}``."""
    return OverwriteObject(
        channel_id=str(channel_id),
        id=str(data["id"]),
        type=_TYPE_NAMES.get(int(data.get("type", 0)), str(data.get("type"))),
        allow=names_of(int(data.get("allow") or 0)),
        deny=names_of(int(data.get("deny") or 0)),
    )


async def _target(
    client: discord.Client, guild: discord.Guild, target: Any, kind: Any, what: str
) -> tuple[int, int]:
    """(id, type) of an overwrite target: a role, a member/user, or an id of either."""
    if kind is not None:
        if kind not in ("role", "member", "user"):
            raise EzError("ValueError", f'{what}: type is "role" or "member", not {to_repr(kind)}')
        tid = convert.snowflake_arg(
            target.get("id") if isinstance(target, dict) else target, what=f"{what} target"
        )
        return tid, ROLE if kind == "role" else MEMBER
    if isinstance(target, RoleObject):
        return convert.snowflake_arg(target["id"], what=f"{what} role"), ROLE
    if isinstance(target, dict) and not isinstance(target, MemberObject | convert.UserObject):
        if "position" in target and "permissions" in target:  # a role from an event
            return convert.snowflake_arg(target["id"], what=f"{what} role"), ROLE
    tid = _user_id(target, f"{what} target")
    if isinstance(target, dict):
        return tid, MEMBER
    if tid == guild.id or guild.get_role(tid) is not None:
        return tid, ROLE  # the guild's id is its @everyone role
    if not guild.roles:  # not cached: ask Discord which roles exist
        try:
            roles = await client.http.get_roles(guild.id)
        except discord.HTTPException as exc:
            raise discord_error(what, exc) from None
        if any(int(r["id"]) == tid for r in roles):
            return tid, ROLE
    return tid, MEMBER


def _allow_deny(spec: Any, what: str) -> tuple[int, int, Any, str | None]:
    """(allow, deny, type, reason) from ``{allow, deny, type, reason}`` or discord.js's
    ``{SendMessages: false, ViewChannel: true}`` (true allows, false denies, null inherits)."""
    if not isinstance(spec, dict):
        raise EzError(
            "TypeError",
            f'{what}: the permissions are an object like {{allow: ["view_channel"], '
            f'deny: ["send_messages"]}}, not {to_repr(spec)}',
        )
    allow = deny = 0
    reason = spec.get("reason")
    for key, value in spec.items():
        if key in ("type", "reason"):
            continue
        if key == "allow":
            allow |= bits_of(value if value is not None else [], what)
        elif key == "deny":
            deny |= bits_of(value if value is not None else [], what)
        elif value is True:
            allow |= permission_bit(key, what)
        elif value is False:
            deny |= permission_bit(key, what)
        elif value is None:
            permission_bit(key, what)  # still a name it knows
        else:
            raise EzError(
                "TypeError",
                f"{what}: {key} must be true (allow), false (deny) or null, not {to_repr(value)}",
            )
    both = allow & deny
    if both:
        raise EzError(
            "ValueError",
            f"{what}: {', '.join(names_of(both))} is both allowed and denied; choose one",
        )
    return allow, deny, spec.get("type"), None if reason is None else str(reason)


def _refusal(what: str, exc: discord.HTTPException, guild: discord.Guild, bits: int) -> EzError:
    """Discord's 50013 on an overwrite, with what the bot lacks."""
    if exc.code != 50013:
        return discord_error(what, exc)
    me = guild.me
    mine = me.guild_permissions.value if me is not None else None
    lacking = names_of(bits & ~mine) if mine is not None else []
    detail = f"; it lacks {', '.join(label(n) for n in lacking)} itself" if lacking else ""
    from ezlang.discord.runtime import rest_error

    return EzError(
        "DiscordError",
        f'{rest_error(what, exc).message}: the bot needs Manage Roles ("Manage Permissions") '
        "in that channel, and can allow or deny only permissions it has in the server or the "
        f"channel's category (unless it has a Manage Permissions overwrite there){detail}",
    )


#: How long a write waits for Discord's CHANNEL_UPDATE of it (normally milliseconds).
ECHO_TIMEOUT = 1.0


def _echo(
    client: discord.Client, channel: Any, tid: int, data: dict[str, Any] | None
) -> asyncio.Future[Any] | None:
    """An awaitable that ends when discord.py applied Discord's CHANNEL_UPDATE of our own
    overwrite write — or None for a channel the cache does not hold (no event will touch it).

    Read your own write: a has_permissions() on the next line must see the overwrite, and
    with the echo applied the cache also holds every earlier update of the channel (the
    gateway delivers them in order), so none can overwrite ours afterwards. Registered before
    the request is sent, so an echo that beats the REST answer is not missed.
    """
    cid = channel.id
    if client.get_channel(cid) is not channel:
        return None

    def ours(before: Any, after: Any) -> bool:
        if after.id != cid:
            return False
        found = next((o for o in after._overwrites if o.id == tid), None)
        if data is None:
            return found is None
        return found is not None and (found.allow, found.deny) == (
            int(data["allow"]),
            int(data["deny"]),
        )

    # A task, so that a refused write can cancel the wait (discord.py then drops the listener).
    return asyncio.ensure_future(
        client.wait_for("guild_channel_update", check=ours, timeout=ECHO_TIMEOUT)
    )


async def _settle(
    echo: asyncio.Future[Any] | None, channel: Any, tid: int, data: dict[str, Any] | None
) -> None:
    """Wait for the echo; without one in time, put the write into the cache ourselves."""
    if echo is None:
        return
    try:
        await echo
        return
    except TimeoutError:
        pass
    kept = [o for o in channel._overwrites if o.id != tid]
    if data is not None:
        kept.append(discord.abc._Overwrites(data))  # type: ignore[arg-type]
    channel._overwrites = kept


def _drop(echo: asyncio.Future[Any] | None) -> None:
    """Cancel an echo wait whose write Discord refused."""
    if echo is not None:
        echo.cancel()


async def create_permission_overwrite(channel: Any, target: Any, permissions: Any) -> Any:
    """Set (replace) the overwrite of a role or member in a channel:
    ``{allow: [...], deny: [...]}``; returns the overwrite."""
    what = "create_permission_overwrite()"
    client = _client(what)
    allow, deny, kind, reason = _allow_deny(permissions, what)
    ch = await _channel(client, channel, what)
    tid, ttype = await _target(client, ch.guild, target, kind, what)
    data = {"id": str(tid), "type": ttype, "allow": str(allow), "deny": str(deny)}
    echo = _echo(client, ch, tid, data)
    try:
        await client.http.edit_channel_permissions(
            ch.id,
            tid,
            str(allow),
            str(deny),
            ttype,  # type: ignore[arg-type]
            reason=reason,
        )
    except discord.HTTPException as exc:
        _drop(echo)
        raise _refusal(what, exc, ch.guild, allow | deny) from None
    await _settle(echo, ch, tid, data)
    return overwrite_object(ch.id, data)


async def delete_permission_overwrite(channel: Any, target: Any) -> None:
    """Remove the overwrite of a role or member from a channel (it inherits again)."""
    what = "delete_permission_overwrite()"
    client = _client(what)
    ch = await _channel(client, channel, what)
    tid = convert.snowflake_arg(
        target.get("id") if isinstance(target, dict) else target, what=f"{what} target"
    )
    echo = _echo(client, ch, tid, None)
    try:
        await client.http.delete_channel_permissions(ch.id, tid)
    except discord.HTTPException as exc:
        _drop(echo)
        raise _refusal(what, exc, ch.guild, 0) from None
    await _settle(echo, ch, tid, None)


async def get_permission_overwrites(channel: Any) -> list[Any]:
    """Every overwrite of a channel, from Discord: ``[{id, type, allow, deny}]``."""
    what = "get_permission_overwrites()"
    client = _client(what)
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    try:
        data: dict[str, Any] = dict(await client.http.get_channel(cid))
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return [overwrite_object(cid, o) for o in data.get("permission_overwrites") or []]


BUILTINS: dict[str, Callable[..., Any]] = {
    "has_permission": has_permission,
    "has_permissions": has_permissions,
    "calculate_permissions": calculate_permissions,
    "get_channel_permissions": get_channel_permissions,
    "create_permission_bitfield": create_permission_bitfield,
    "add_permissions": add_permissions,
    "remove_permissions": remove_permissions,
    "create_permission_overwrite": create_permission_overwrite,
    "delete_permission_overwrite": delete_permission_overwrite,
    "get_permission_overwrites": get_permission_overwrites,
}

for _builtin, _fn in BUILTINS.items():
    register(_builtin, _fn)
