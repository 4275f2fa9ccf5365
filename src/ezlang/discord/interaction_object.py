"""The interaction object EasyLang handlers get, built from discord.py's ``discord.Interaction``.

Its fields are Discord's, read once (``i.user``, ``i.options`` with users, channels, roles and
attachments resolved to objects, ``i.custom_id``, ``i.values``, ``i.fields`` …); the
discord.py interaction stays behind it (``native``) for the answers in
:mod:`ezlang.discord.responses`.
"""

from __future__ import annotations

import time
from typing import Any

import discord

from ezlang.discord import commands, convert, plugin
from ezlang.discord.lookups import member_object
from ezlang.discord.members import member_from_payload
from ezlang.discord.messages import _user_from_payload


class InteractionObject(convert.DiscordObject):
    """What a handler gets: read-only fields, plus the discord.py interaction behind them."""

    what = "an interaction"
    native: discord.Interaction[Any]
    received: float
    expired: bool = False
    #: Autocomplete: the type of the option being typed (choices must match it).
    focused_type: int = 3


_TYPES = {
    discord.InteractionType.application_command: "command",
    discord.InteractionType.autocomplete: "autocomplete",
    discord.InteractionType.component: "component",
    discord.InteractionType.modal_submit: "modal",
}


def _member(native: discord.Interaction[Any]) -> dict[str, Any] | None:
    """``i.member``: the member object ``fetch_member`` returns (so moderation builtins take
    it), plus ``permissions``, what Discord computed for them in the interaction's channel."""
    user = native.user
    if not isinstance(user, discord.Member):
        return None
    member = member_object(user)
    member["permissions"] = str(native.permissions.value)
    return member


def _user_option(key: str, resolved: dict[str, Any], guild_id: int | None) -> dict[str, Any]:
    """A user option (or a user command's target): in a server, Discord resolves the member
    too (``resolved.members`` without ``user``), which becomes the member object
    ``fetch_member`` returns, plus ``permissions`` (theirs in the channel, as Discord sends
    it); a user who is not in the server, or any user in a DM, stays a user object."""
    data = (resolved.get("users") or {}).get(key)
    if data is None:
        return {"id": key}
    member = (resolved.get("members") or {}).get(key)
    if member is None or guild_id is None:
        return _user_from_payload(data)
    obj = member_from_payload({**member, "user": data}, guild_id)
    if member.get("permissions") is not None:
        obj["permissions"] = str(member["permissions"])
    return obj


def _resolve(kind: int, value: Any, resolved: dict[str, Any], guild_id: int | None) -> Any:
    """An option value: users (members in a server), channels, roles and attachments as
    objects."""
    key = str(value)
    if kind == 6 or (kind == 9 and key in (resolved.get("users") or {})):
        return _user_option(key, resolved, guild_id)
    if kind == 7:
        ch = (resolved.get("channels") or {}).get(key) or {"id": key}
        return convert.DiscordObject(
            id=str(ch["id"]),
            name=ch.get("name"),
            type=ch.get("type"),
            parent_id=ch.get("parent_id"),
        )
    if kind in (8, 9):
        role = (resolved.get("roles") or {}).get(key) or {"id": key}
        return convert.DiscordObject(
            id=str(role["id"]), name=role.get("name"), color=role.get("color", 0),
            position=role.get("position", 0),
        )  # fmt: skip
    if kind == 11:
        a = (resolved.get("attachments") or {}).get(key) or {"id": key}
        return convert.DiscordObject(
            id=str(a["id"]), filename=a.get("filename"), url=a.get("url"), size=a.get("size"),
            content_type=a.get("content_type"),
        )  # fmt: skip
    return value


def _options(
    data: dict[str, Any], guild_id: int | None
) -> tuple[list[str], dict[str, Any], dict[str, Any] | None, int]:
    """(subcommand path, option values, focused option, focused type) of command data."""
    path: list[str] = []
    options = data.get("options") or []
    while options and options[0].get("type") in (commands.SUBCOMMAND, commands.SUBCOMMAND_GROUP):
        path.append(options[0]["name"])
        options = options[0].get("options") or []
    resolved = data.get("resolved") or {}
    values: dict[str, Any] = {}
    focused = None
    focused_type = 3
    for o in options:
        if o.get("focused"):
            focused = {"name": o["name"], "value": o.get("value")}
            focused_type = o.get("type", 3)
            values[o["name"]] = o.get("value")
        else:
            values[o["name"]] = _resolve(o.get("type", 3), o.get("value"), resolved, guild_id)
    return path, values, focused, focused_type


def _fields(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Modal values by custom id (rows of text inputs, or labels holding one component)."""
    out: dict[str, Any] = {}
    stack = list(rows)
    while stack:
        c = stack.pop(0)
        if "custom_id" in c and ("value" in c or "values" in c):
            out[c["custom_id"]] = c.get("value", c.get("values"))
        stack.extend(c.get("components") or [])
        if isinstance(c.get("component"), dict):
            stack.append(c["component"])
    return out


def shard_of(client: Any, guild_id: int | None) -> int:
    shard_plugin = plugin.current()
    if shard_plugin is not None:
        return shard_plugin.shard_id
    count = client.shard_count or 1
    if guild_id is None or count <= 1:
        return 0
    return (guild_id >> 22) % count


def interaction_object(client: Any, native: discord.Interaction[Any]) -> InteractionObject:
    """The EasyLang view of ``native``."""
    data: dict[str, Any] = dict(native.data or {})
    kind = _TYPES.get(native.type, "unknown")
    path: list[str] = []
    values: dict[str, Any] = {}
    focused = None
    focused_type = 3
    target = None
    message = None
    command = None
    if kind in ("command", "autocomplete"):
        command = data.get("name")
        ctype = data.get("type", 1)
        if kind == "command" and ctype == 2:
            kind = "user_command"
        elif kind == "command" and ctype == 3:
            kind = "message_command"
        path, values, focused, focused_type = _options(data, native.guild_id)
        resolved = data.get("resolved") or {}
        target_id = data.get("target_id")
        if ctype == 2 and target_id is not None:
            target = _resolve(6, target_id, resolved, native.guild_id)
        elif ctype == 3 and target_id is not None:
            raw = (resolved.get("messages") or {}).get(str(target_id))
            if raw is not None:
                message = convert.message_from_payload(raw)
                target = message
    elif kind == "component":
        kind = "button" if data.get("component_type") == 2 else "select"
    if native.message is not None and message is None:
        message = convert.message(native.message)
        message["components"] = [c.to_dict() for c in native.message.components]
    obj = InteractionObject(
        id=str(native.id),
        type=kind,
        user=convert.user(native.user),
        member=_member(native),
        guild_id=convert.snowflake(native.guild_id),
        channel_id=convert.snowflake(native.channel_id),
        locale=str(native.locale),
        guild_locale=None if native.guild_locale is None else str(native.guild_locale),
        shard_id=shard_of(client, native.guild_id),
        command=command,
        subcommand_group=path[0] if len(path) == 2 else None,
        subcommand=path[-1] if path else None,
        options=values,
        focused=focused,
        target=target,
        custom_id=data.get("custom_id"),
        values=list(data.get("values") or []),
        fields=_fields(data.get("components") or []) if kind == "modal" else {},
        message=message,
    )
    obj.native = native
    obj.received = time.monotonic()
    obj.focused_type = focused_type
    return obj
