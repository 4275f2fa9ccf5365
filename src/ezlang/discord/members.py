"""EasyLang builtins for roles and members (``MEMBER_BUILTINS``): create, edit, delete and
order roles, give and take them, nicknames, and who has a role.

Names and argument order are the older EasyLang's (``create_role(guild, name, options)``,
``add_role_to_member(member, role)``, ``set_nickname(member, nickname, reason?)``, …).
A member is a member object (from ``fetch_member``, an event or a reaction: anything with
``guild_id`` and ``id`` or ``user_id``); a role is a role object (``get_role``, a command's role
option) or its id. Discord's refusals become DiscordErrors that say what to fix
(:mod:`ezlang.discord.refusals`: the missing permission, or the two roles of the hierarchy).
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.channels import check_options
from ezlang.discord.messages import MemberObject, RoleObject, _user_from_payload
from ezlang.discord.permission_names import bits_of, names_of
from ezlang.discord.refusals import refusal
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = [
    "BUILTINS",
    "guild_id_of",
    "image_uri",
    "member_from_payload",
    "member_ids",
    "reason_arg",
]

NICK_MAX = 32
ROLE_NAME_MAX = 100


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


# ---- arguments ---------------------------------------------------------------------------


def guild_id_of(guild: Any, what: str) -> int:
    """A guild id from a guild object, an object with ``guild_id`` (message, member) or an id."""
    if isinstance(guild, dict):  # a guild object, or a message/member/interaction in one
        guild = guild["guild_id"] if "guild_id" in guild else guild.get("id")
    return convert.snowflake_arg(guild, what=f"{what} guild")


def member_ids(member: Any, what: str) -> tuple[int, int]:
    """``(guild_id, user_id)`` of a member object (or a reaction: ``user_id`` + ``guild_id``)."""
    if isinstance(member, dict):
        uid = member.get("user_id", member.get("id"))
        gid = member.get("guild_id")
        if gid is not None and uid is not None:
            return (
                convert.snowflake_arg(gid, what=f"{what} member's guild_id"),
                convert.snowflake_arg(uid, what=f"{what} member id"),
            )
        if uid is not None:
            raise EzError(
                "TypeError",
                f"{what} needs a member of a server, and {to_repr(member)[:60]}… is a user "
                "(it has no guild_id); get the member with fetch_member(guild_id, user.id)",
            )
    raise EzError(
        "TypeError",
        f"{what} needs a member (from fetch_member(guild_id, user_id) or an event), "
        f"not {to_repr(member)}",
    )


def _role_id(role: Any, what: str) -> int:
    if isinstance(role, dict):
        role = role.get("id")
    return convert.snowflake_arg(role, what=f"{what} role")


def _role_ids(client: discord.Client, role: Any, what: str) -> tuple[int, int]:
    """``(guild_id, role_id)`` of a role object, or of a role id the bot's servers have."""
    rid = _role_id(role, what)
    if isinstance(role, dict) and role.get("guild_id") is not None:
        return convert.snowflake_arg(role["guild_id"], what=f"{what} role's guild_id"), rid
    for guild in client.guilds:
        if guild.get_role(rid) is not None:
            return guild.id, rid
    raise EzError(
        "ValueError",
        f"{what}: no server of this bot has a role with id {rid}; pass the role object from "
        "get_role(guild_id, role_id)",
    )


def reason_arg(reason: Any, what: str) -> str | None:
    """An audit-log reason argument: null or a string (Discord keeps 512 characters)."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise EzError("TypeError", f"{what} reason must be a string, not {to_repr(reason)}")
    return reason[:512]  # Discord keeps at most 512 characters of an audit-log reason


_ROLE_OPTIONS = ("name", "color", "colour", "permissions", "hoist", "mentionable", "reason")


def _options(options: Any, what: str) -> dict[str, Any]:
    """A role's options, known keys only (a typo names the closest one)."""
    return check_options(options, _ROLE_OPTIONS, what)


def _color(value: Any, what: str) -> int:
    if isinstance(value, str) and value.startswith("#"):
        try:
            return int(value[1:], 16)
        except ValueError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0xFFFFFF:
        return value
    raise EzError("TypeError", f'{what} color must be a number or "#rrggbb", not {to_repr(value)}')


def _role_fields(options: dict[str, Any], what: str, name: Any = None) -> dict[str, Any]:
    """Discord's role fields from ``{name, color, permissions, hoist, mentionable}``."""
    fields: dict[str, Any] = {}
    name = options.get("name", name)
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            raise EzError("TypeError", f"{what} role name must be a string, not {to_repr(name)}")
        if len(name) > ROLE_NAME_MAX:
            raise EzError("ValueError", f"{what} role name is at most {ROLE_NAME_MAX} characters")
        fields["name"] = name
    color = options.get("color", options.get("colour"))
    if color is not None:
        fields["color"] = _color(color, what)
    if options.get("permissions") is not None:
        fields["permissions"] = str(bits_of(options["permissions"], what))
    for flag in ("hoist", "mentionable"):
        if flag in options:
            fields[flag] = bool(options[flag])
    return fields


# ---- objects -----------------------------------------------------------------------------


def role_from_payload(data: dict[str, Any], guild_id: int) -> dict[str, Any]:
    """The role object ``get_role`` returns, from Discord's role JSON."""
    return RoleObject(
        id=str(data["id"]),
        name=data["name"],
        color=data.get("color", 0),
        position=data.get("position", 0),
        # Discord's names, as has_permission() takes them ("view_channel", "ban_members").
        permissions=names_of(int(data.get("permissions") or 0)),
        mentionable=bool(data.get("mentionable")),
        hoist=bool(data.get("hoist")),
        guild_id=str(guild_id),
    )


def member_from_payload(data: dict[str, Any], guild_id: int) -> dict[str, Any]:
    """The member object ``fetch_member`` returns, from Discord's member JSON."""
    user = dict(_user_from_payload(data["user"]))
    user["display_name"] = data.get("nick") or user["display_name"]
    return MemberObject(
        **user,
        guild_id=str(guild_id),
        nick=data.get("nick"),
        roles=[str(r) for r in data.get("roles") or ()],
        joined_at=data.get("joined_at"),
        timed_out_until=data.get("communication_disabled_until"),
    )


# ---- roles -------------------------------------------------------------------------------


async def _create(what: str, guild: Any, fields: dict[str, Any], reason: Any) -> dict[str, Any]:
    client = _client(what)
    gid = guild_id_of(guild, what)
    try:
        data = await client.http.create_role(gid, reason=reason_arg(reason, what), **fields)
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("manage_roles",)) from None
    return role_from_payload(dict(data), gid)


async def create_role(guild: Any, name: Any, options: Any = None) -> dict[str, Any]:
    """Create a role (``options``: ``{color, permissions: [names], hoist, mentionable,
    reason}``); it starts just above @everyone. Needs Manage Roles, and the bot can only
    grant permissions it has itself."""
    what = "create_role()"
    opts = _options(options, what)
    return await _create(what, guild, _role_fields(opts, what, name), opts.get("reason"))


def _icon_fields(icon: Any, what: str) -> dict[str, Any]:
    if not isinstance(icon, str) or not icon:
        raise EzError(
            "TypeError",
            f'{what} icon must be an emoji such as "⭐" or the path of a PNG/JPEG image, '
            f"not {to_repr(icon)}",
        )
    uri = image_uri(icon, what)
    return {"unicode_emoji": icon} if uri is None else {"icon": uri}


def image_uri(path_text: str, what: str) -> str | None:
    """The ``data:`` URI Discord takes for an image file (role or server icon), or None if
    ``path_text`` does not name an image (by its extension)."""
    path = Path(path_text)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".gif"):
        return None
    if not path.is_file():
        raise EzError("ValueError", f"{what}: no image file at {path_text}")
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{mime};base64,{data}"


async def create_role_with_icon(
    guild: Any, name: Any, icon: Any, options: Any = None
) -> dict[str, Any]:
    """Create a role with an icon: a unicode emoji (``"⭐"``) or the path of an image. Role
    icons are a boost perk: Discord refuses them (50101) in a server without ROLE_ICONS."""
    what = "create_role_with_icon()"
    opts = _options(options, what)
    fields = _role_fields(opts, what, name) | _icon_fields(icon, what)
    return await _create(what, guild, fields, opts.get("reason"))


async def edit_role(role: Any, options: Any) -> dict[str, Any]:
    """Change a role (``{name, color, permissions, hoist, mentionable, reason}``); the role must
    be below the bot's highest role. Returns the changed role."""
    what = "edit_role()"
    client = _client(what)
    gid, rid = _role_ids(client, role, what)
    opts = _options(options, what)
    fields = _role_fields(opts, what)
    if not fields:
        raise EzError("ValueError", f"{what} needs at least one option to change")
    try:
        data = await client.http.edit_role(
            gid, rid, reason=reason_arg(opts.get("reason"), what), **fields
        )
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("manage_roles",), role_id=rid) from None
    return role_from_payload(dict(data), gid)


async def delete_role(role: Any, reason: Any = None) -> None:
    """Delete a role (below the bot's highest role; not @everyone nor a managed role)."""
    what = "delete_role()"
    client = _client(what)
    gid, rid = _role_ids(client, role, what)
    if rid == gid:
        raise EzError("ValueError", f"{what}: @everyone can not be deleted")
    try:
        await client.http.delete_role(gid, rid, reason=reason_arg(reason, what))
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("manage_roles",), role_id=rid) from None


async def reorder_roles(guild: Any, positions: Any) -> list[dict[str, Any]]:
    """Move roles: ``positions`` is an array of ``{role, position}`` (or an object
    ``{role_id: position}``); 1 is just above @everyone. Returns every role by position."""
    what = "reorder_roles()"
    client = _client(what)
    gid = guild_id_of(guild, what)
    if isinstance(positions, dict) and not {"role", "position"} & positions.keys():
        pairs = list(positions.items())
    elif isinstance(positions, list) and all(
        isinstance(p, dict) and "position" in p for p in positions
    ):
        pairs = [(p.get("role", p.get("id")), p["position"]) for p in positions]
    else:
        raise EzError(
            "TypeError",
            f"{what} needs an array of {{role, position}} objects, not {to_repr(positions)}",
        )
    if not pairs:
        raise EzError("ValueError", f"{what} needs at least one role to move")
    moves = []
    for role, position in pairs:
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise EzError(
                "ValueError", f"{what} positions are whole numbers from 1, not {to_repr(position)}"
            )
        moves.append({"id": _role_id(role, what), "position": position})
    try:
        data = await client.http.move_role_position(gid, moves)  # type: ignore[arg-type]
    except discord.HTTPException as exc:
        first = moves[0]["id"] if len(moves) == 1 else None
        raise await refusal(what, exc, client, gid, ("manage_roles",), role_id=first) from None
    return [role_from_payload(dict(r), gid) for r in sorted(data, key=lambda r: r["position"])]


async def set_role_position(role: Any, position: Any) -> list[dict[str, Any]]:
    """Move one role to ``position`` (1 is just above @everyone); the others shift. It must
    stay below the bot's highest role."""
    what = "set_role_position()"
    gid, rid = _role_ids(_client(what), role, what)
    return await reorder_roles(str(gid), [{"role": str(rid), "position": position}])


# ---- members -----------------------------------------------------------------------------


async def _member_role(member: Any, role: Any, add: bool) -> None:
    what = "add_role_to_member()" if add else "remove_role_from_member()"
    client = _client(what)
    gid, uid = member_ids(member, what)
    rid = _role_id(role, what)
    call = client.http.add_role if add else client.http.remove_role
    try:
        await call(gid, uid, rid)
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("manage_roles",), role_id=rid) from None


async def add_role_to_member(member: Any, role: Any) -> None:
    """Give a member a role (a role object or id); the role must be below the bot's highest."""
    await _member_role(member, role, True)


async def remove_role_from_member(member: Any, role: Any) -> None:
    """Take a role from a member."""
    await _member_role(member, role, False)


async def _nick(what: str, member: Any, nick: str | None, reason: Any) -> dict[str, Any]:
    client = _client(what)
    gid, uid = member_ids(member, what)
    why = reason_arg(reason, what)
    try:
        if client.user is not None and uid == client.user.id:  # the bot's own: /members/@me
            data = await client.http.edit_my_member(gid, reason=why, nick=nick)
            needed: tuple[str, ...] = ("change_nickname",)
        else:
            needed = ("manage_nicknames",)
            data = await client.http.edit_member(gid, uid, reason=why, nick=nick)
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, needed, member_id=uid) from None
    return member_from_payload(dict(data), gid)


async def set_nickname(member: Any, nickname: Any, reason: Any = None) -> dict[str, Any]:
    """Set a member's nickname (1–32 characters; the member must be below the bot's highest
    role). Returns the member."""
    what = "set_nickname()"
    if not isinstance(nickname, str) or not nickname.strip():
        raise EzError(
            "TypeError",
            f"{what} needs a nickname string (reset_nickname(member) removes it), "
            f"not {to_repr(nickname)}",
        )
    if len(nickname) > NICK_MAX:
        raise EzError(
            "ValueError",
            f"{what}: a nickname is at most {NICK_MAX} characters (Discord's limit), "
            f"this one has {len(nickname)}",
        )
    return await _nick(what, member, nickname, reason)


async def reset_nickname(member: Any, reason: Any = None) -> dict[str, Any]:
    """Remove a member's nickname (they show their own name again). Returns the member."""
    return await _nick("reset_nickname()", member, None, reason)


async def get_role_members(guild_or_role: Any, role: Any = None) -> list[dict[str, Any]]:
    """The members who have a role: ``get_role_members(role)`` or ``(guild, role)``. Needs the
    members intent (Discord sends the member list only then)."""
    what = "get_role_members()"
    client = _client(what)
    if role is None:
        gid, rid = _role_ids(client, guild_or_role, what)
    else:
        gid, rid = guild_id_of(guild_or_role, what), _role_id(role, what)
    if not client.intents.members:
        raise EzError(
            "DiscordError",
            f'{what} needs the members intent: add "members" to set_intents(...) and switch '
            "on SERVER MEMBERS INTENT in the Discord developer portal (Bot page)",
        )
    guild = client.get_guild(gid)
    if guild is None:
        raise EzError(
            "DiscordError",
            f"{what}: server {gid} is not one this bot process serves (with sharding: another "
            "shard's); ask that shard with broadcast_eval",
        )
    if not guild.chunked:
        await guild.chunk()
    found = guild.get_role(rid)
    if found is None:
        raise EzError("DiscordError", f"{what}: no role has id {rid} in server {gid} (10011)")
    from ezlang.discord.lookups import member_object  # noqa: PLC0415 - lookups imports messages

    return [member_object(m) for m in sorted(found.members, key=lambda m: m.id)]


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_role": create_role,
    "create_role_with_icon": create_role_with_icon,
    "edit_role": edit_role,
    "delete_role": delete_role,
    "reorder_roles": reorder_roles,
    "set_role_position": set_role_position,
    "add_role_to_member": add_role_to_member,
    "remove_role_from_member": remove_role_from_member,
    "set_nickname": set_nickname,
    "reset_nickname": reset_nickname,
    "get_role_members": get_role_members,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
