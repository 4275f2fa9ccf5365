"""EasyLang builtins that create, edit and delete channels (``CHANNEL_BUILTINS``).

Names and argument order are the older EasyLang's: ``create_channel(guild, name, type,
options)``, ``edit_channel(channel, options)``, ``delete_channel(channel)``. Options are
checked before anything is sent (an unknown option or a bad value is an EasyLang error at
the line that passed it); Discord's refusals become DiscordErrors that say what to fix, and a
missing permission (50013) names the permission the action needs.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.messages import HINTS
from ezlang.discord.permission_names import bits_of
from ezlang.discord.runtime import rest_error, runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS", "guild_id_of", "refusal", "target_id"]

#: The types ``create_channel`` takes, by name (Discord's numbers work too).
CREATE_TYPES: dict[str, int] = {
    "text": 0,
    "voice": 2,
    "category": 4,
    "announcement": 5,
    "news": 5,  # discord.js's older name
    "stage": 13,
}

#: What to fix for the refusals of channel and thread routes (beyond ``messages.HINTS``).
CHANNEL_HINTS: dict[int, str] = {
    50001: "the bot cannot see it; a private thread is visible only to its members and to "
    "those with Manage Threads",
    50024: "this works on a text or announcement channel (not a voice channel, category or "
    "thread); pass the parent channel",
    50035: "Discord refused a value; check the names (1–100 characters) and options",
    50083: "the thread is archived; unarchive_thread(thread) first",
    160004: "that message already has a thread; a message can start only one",
    160005: "the thread is locked; only members with Manage Threads can post or unlock it",
}


def refusal(what: str, exc: discord.HTTPException, permission: str) -> EzError:
    """A DiscordError for a refused channel or thread call; 50013 names ``permission``."""
    err = rest_error(what, exc)
    if exc.code == 50013:
        hint = (
            f"the bot needs the {permission} permission for this; give its role {permission} "
            "in Server Settings → Roles (or in the channel's permissions)"
        )
    else:
        hint = CHANNEL_HINTS.get(exc.code) or HINTS.get(exc.code, "")
    return EzError("DiscordError", f"{err.message}: {hint}" if hint else err.message)


def target_id(value: Any, what: str) -> int:
    """The id of a guild, channel, thread, user or member argument: the object or its id."""
    if isinstance(value, dict):
        value = value.get("id")
    return convert.snowflake_arg(value, what=what)


def guild_id_of(value: Any, what: str) -> int:
    """A guild argument: its id, a guild object, or anything in a guild (a message, a channel,
    an interaction, a member: their ``guild_id``)."""
    if isinstance(value, dict) and value.get("guild_id") is not None:
        value = value["guild_id"]
    return target_id(value, what)


def check_options(options: Any, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    """``options`` as a dict with only known keys (a typo names the closest one)."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{what} options must be an object, not {to_repr(options)}")
    for key in options:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise EzError(
                "ValueError",
                f"{what} has no option '{key}'{hint}; the options are: {', '.join(allowed)}",
            )
    return dict(options)


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100:
        raise EzError(
            "TypeError" if not isinstance(value, str) else "ValueError",
            f"{what} needs a name of 1 to 100 characters, not {to_repr(value)}",
        )
    return value.strip()


def _whole(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise EzError("TypeError", f"{what} must be a whole number, not {to_repr(value)}")
    if not low <= value <= high:
        raise EzError("ValueError", f"{what} must be between {low} and {high}, not {int(value)}")
    return int(value)


def _overwrites(value: Any, what: str) -> list[dict[str, Any]]:
    """``[{id, type: "role"|"member", allow: [names], deny: [names]}]`` → Discord's form."""
    if not isinstance(value, list):
        raise EzError("TypeError", f"{what} permission_overwrites must be an array of objects")
    out = []
    for entry in value:
        if not isinstance(entry, dict) or "id" not in entry:
            raise EzError(
                "TypeError",
                f"{what}: each overwrite is an object {{id, type, allow, deny}}, "
                f"not {to_repr(entry)}",
            )
        kind = entry.get("type", "role")
        if kind not in ("role", "member"):
            raise EzError(
                "ValueError",
                f'{what}: an overwrite\'s type is "role" or "member", not {to_repr(kind)}',
            )
        bits = {
            side: str(bits_of(entry.get(side) or [], f"{what} {side}"))
            for side in ("allow", "deny")
        }
        out.append(
            {
                "id": str(target_id(entry["id"], f"{what} overwrite id")),
                "type": 0 if kind == "role" else 1,
                **bits,
            }
        )
    return out


def _channel_fields(options: dict[str, Any], what: str) -> dict[str, Any]:
    """Discord's JSON fields from the options shared by create and edit."""
    fields: dict[str, Any] = {}
    if "name" in options:
        fields["name"] = _name(options["name"], what)
    if "topic" in options:
        topic = options["topic"]
        if topic is not None and (not isinstance(topic, str) or len(topic) > 1024):
            raise EzError("ValueError", f"{what} topic must be text of at most 1024 characters")
        fields["topic"] = topic
    for key in ("parent", "parent_id", "category"):
        if key in options:
            parent = options[key]
            fields["parent_id"] = (
                None if parent is None else str(target_id(parent, f"{what} {key}"))
            )
    if "position" in options:
        fields["position"] = _whole(options["position"], 0, 10_000, f"{what} position")
    if "nsfw" in options:
        fields["nsfw"] = bool(options["nsfw"])
    for key in ("slowmode", "rate_limit_per_user"):
        if key in options:
            fields["rate_limit_per_user"] = _whole(options[key], 0, 21600, f"{what} {key}")
    if "bitrate" in options:
        fields["bitrate"] = _whole(options["bitrate"], 8000, 384_000, f"{what} bitrate")
    if "user_limit" in options:
        fields["user_limit"] = _whole(options["user_limit"], 0, 99, f"{what} user_limit")
    if "permission_overwrites" in options:
        fields["permission_overwrites"] = _overwrites(options["permission_overwrites"], what)
    return fields


_CREATE_OPTIONS = ("topic", "parent", "parent_id", "category", "position", "nsfw", "slowmode",
                   "rate_limit_per_user", "bitrate", "user_limit", "permission_overwrites",
                   "reason")  # fmt: skip
_EDIT_OPTIONS = ("name", *_CREATE_OPTIONS)


def _channel_type(value: Any, what: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str) and value.lower() in CREATE_TYPES:
        return CREATE_TYPES[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in CREATE_TYPES.values():
        return value
    raise EzError(
        "ValueError",
        f'{what} type must be one of "text", "voice", "category", "announcement", "stage", '
        f"not {to_repr(value)}",
    )


async def create_channel(guild: Any, name: Any, type: Any = None, options: Any = None) -> Any:
    """Create a channel in a server (needs Manage Channels); returns the channel object.

    ``type``: ``"text"`` (default), ``"voice"``, ``"category"``, ``"announcement"``,
    ``"stage"``. ``options``: ``topic``, ``parent`` (a category or its id; without
    ``permission_overwrites`` the channel takes the category's), ``position``, ``nsfw``,
    ``slowmode`` (seconds), ``bitrate``, ``user_limit``, ``permission_overwrites``
    (``[{id, type: "role"|"member", allow: [...], deny: [...]}]``), ``reason``.
    """
    what = "create_channel()"
    client = _client(what)
    gid = guild_id_of(guild, f"{what} guild")
    opts = check_options(options, _CREATE_OPTIONS, what)
    kind = _channel_type(type, what)
    fields = _channel_fields({**opts, "name": name}, what)
    if kind == 4 and fields.get("parent_id"):
        raise EzError("ValueError", f"{what}: a category can not be inside another category")
    reason = opts.get("reason")
    try:
        data = await client.http.create_channel(gid, kind, reason=reason, **fields)  # type: ignore[arg-type]
    except discord.HTTPException as exc:
        raise refusal(what, exc, "Manage Channels") from None
    return convert.channel_from_payload(dict(data))


def _channel_itself(channel: Any, what: str) -> int:
    """The id of the channel to change or delete. A message is refused, not taken as "its
    channel" as sending does: deleting or renaming a whole channel because a message was
    passed by mistake could not be undone."""
    if isinstance(channel, convert.MessageObject):
        raise EzError(
            "TypeError",
            f"{what} needs a channel (or its id), not a message; for the channel a message is"
            " in, pass message.channel_id",
        )
    return convert.channel_id_of(channel, what=f"{what} channel")


async def edit_channel(channel: Any, options: Any) -> Any:
    """Change a channel (needs Manage Channels; overwrites need Manage Roles too); returns
    the channel object. ``options``: ``name``, ``topic``, ``parent`` (null: out of its
    category), ``position``, ``nsfw``, ``slowmode``, ``bitrate``, ``user_limit``,
    ``permission_overwrites``, ``reason``."""
    what = "edit_channel()"
    client = _client(what)
    cid = _channel_itself(channel, what)
    opts = check_options(options, _EDIT_OPTIONS, what)
    if not opts:
        raise EzError(
            "ValueError", f'{what} needs at least one option to change, e.g. {{name: "x"}}'
        )
    fields = _channel_fields(opts, what)
    permission = "Manage Roles" if "permission_overwrites" in fields else "Manage Channels"
    try:
        data = await client.http.edit_channel(cid, reason=opts.get("reason"), **fields)
    except discord.HTTPException as exc:
        raise refusal(what, exc, permission) from None
    return convert.channel_from_payload(dict(data))


async def delete_channel(channel: Any, reason: Any = None) -> None:
    """Delete a channel (needs Manage Channels; a thread needs Manage Threads)."""
    what = "delete_channel()"
    client = _client(what)
    cid = _channel_itself(channel, what)
    # A thread needs Manage Threads instead: known from its object, or from discord.py's cache.
    is_thread = isinstance(channel, convert.ThreadObject) or isinstance(
        client.get_channel(cid), discord.Thread
    )
    try:
        await client.http.delete_channel(cid, reason=None if reason is None else str(reason))
    except discord.HTTPException as exc:
        raise refusal(what, exc, "Manage Threads" if is_thread else "Manage Channels") from None


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_channel": create_channel,
    "edit_channel": edit_channel,
    "delete_channel": delete_channel,
}

for _name_, _fn in BUILTINS.items():
    register(_name_, _fn)
