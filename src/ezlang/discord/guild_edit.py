"""EasyLang builtin ``edit_guild(guild, options)`` (``GUILD_EDIT_BUILTINS``): rename a server
or change its description, as discord.js's ``guild.edit``.

The older EasyLang had no builtin for it, so the name follows ``edit_role`` and
``edit_channel``. Discord asks for Manage Server; its refusal becomes a DiscordError that
names the permission (:mod:`ezlang.discord.refusals`). The change reaches every shard's
``guildUpdate`` handler with the old and the new server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.channels import check_options
from ezlang.discord.members import guild_id_of, image_uri, reason_arg
from ezlang.discord.refusals import refusal
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS"]

_OPTIONS = ("name", "description", "icon", "reason")


async def edit_guild(guild: Any, options: Any) -> dict[str, Any]:
    """Change a server (``{name, description, icon, reason}``; a name has 2 to 100
    characters, ``icon`` is the path of an image, null removes the description or the icon).
    Needs Manage Server. Returns the changed server."""
    what = "edit_guild()"
    client = runtime().require_client(what)
    gid = guild_id_of(guild, what)
    opts = check_options(options, _OPTIONS, what)
    fields: dict[str, Any] = {}
    if "name" in opts:
        name = opts["name"]
        if not isinstance(name, str) or not 2 <= len(name) <= 100:
            raise EzError(
                "TypeError" if not isinstance(name, str) else "ValueError",
                f"{what} name must have 2 to 100 characters, not {to_repr(name)}",
            )
        fields["name"] = name
    if "description" in opts:
        text = opts["description"]
        if text is not None and not isinstance(text, str):
            raise EzError(
                "TypeError", f"{what} description must be a string or null, not {to_repr(text)}"
            )
        fields["description"] = text
    if "icon" in opts:
        fields["icon"] = _icon(opts["icon"], what)
    if not fields:
        raise EzError(
            "ValueError", f"{what} needs at least one option to change: name, description, icon"
        )
    try:
        data = await client.http.edit_guild(
            gid, reason=reason_arg(opts.get("reason"), what), **fields
        )
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("manage_guild",)) from None
    cached = client.get_guild(gid)
    return convert.GuildObject(
        id=str(data["id"]),
        name=data["name"],
        member_count=None if cached is None else cached.member_count,
        shard_id=None if cached is None else cached.shard_id,
        owner_id=data.get("owner_id"),
    )


def _icon(icon: Any, what: str) -> str | None:
    if icon is None:
        return None
    uri = image_uri(icon, what) if isinstance(icon, str) else None
    if uri is None:
        raise EzError(
            "TypeError",
            f"{what} icon must be the path of a PNG, JPEG, WebP or GIF image (or null), "
            f"not {to_repr(icon)}",
        )
    return uri


BUILTINS: dict[str, Callable[..., Any]] = {"edit_guild": edit_guild}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
