"""EasyLang builtins for what a bot does to messages, reactions and DMs (``MESSAGE_BUILTINS``).

Names and argument order are the older EasyLang's (``edit_message(message, content)``,
``fetch_message(channel, message_id)``, ``bulk_delete(channel, amount)``, …). Discord's
refusals become ``DiscordError``s that say what to fix (see :func:`discord_error`); the rules
Discord would refuse anyway (``bulk_delete`` of more than 100 or of messages older than
14 days) are checked before anything is sent, so the error points at the EasyLang line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import discord
from discord.message import convert_emoji_reaction

from ezlang.discord import convert
from ezlang.discord.builtins import _message_ids, _message_kwargs, emoji_arg
from ezlang.discord.runtime import rest_error, runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS", "discord_error"]

BULK_DELETE_MAX = 100
BULK_DELETE_MAX_AGE_S = 14 * 24 * 3600
_DISCORD_EPOCH_MS = 1_420_070_400_000

#: What to fix, by Discord's error code (appended to Discord's own message).
HINTS: dict[int, str] = {
    10003: "the channel does not exist or the bot cannot see it; check the channel id",
    10004: "the bot is not in that server; check the guild id",
    10007: "that user is not a member of the server (they may have left)",
    10008: "the message was deleted or the id is wrong; use message.id of a message "
    "in this channel",
    10011: "no role has that id in this server",
    10013: "no user has that id",
    10014: "nobody reacted with that emoji",
    30003: "a channel holds at most 50 pins; unpin one first",
    50001: "the bot cannot see that channel; give its role View Channel there",
    50007: "the user does not accept DMs from this bot (DMs closed or no shared server)",
    50013: "the bot's role lacks a permission for this; give it the permission in "
    "Server Settings → Roles (Manage Messages for pins, deleting others' messages "
    "and removing reactions)",
    50034: "only messages under 14 days old can be bulk deleted; use delete_message() "
    "for older ones",
    10006: "the invite was deleted, expired or used up, or the code is wrong",
    10015: "the webhook was deleted or the URL is wrong; create_webhook() makes a new one",
    30007: "a channel holds at most 15 webhooks; delete one first (webhook_delete)",
    50027: "the webhook URL's token is wrong; copy the whole URL of the webhook",
    520001: "the poll has already ended",
    520006: "that message has no poll",
}


def discord_error(action: str, exc: discord.HTTPException, permission: str = "") -> EzError:
    """A DiscordError with Discord's message and code and, for known codes, what to fix;
    ``permission`` names what a 50013 lacks ("Manage Webhooks")."""
    err = rest_error(action, exc)
    if permission and exc.code == 50013:
        return EzError(
            "DiscordError",
            f"{err.message}: the bot's role lacks the {permission} permission; give it "
            "in Server Settings → Roles (or in the channel's permissions)",
        )
    hint = HINTS.get(exc.code)
    if hint:
        err = EzError("DiscordError", f"{err.message}: {hint}")
    return err


ChannelObject = convert.ChannelObject  # one home for the channel object: convert.py


class RoleObject(convert.DiscordObject):
    what = "a role"


class MemberObject(convert.DiscordObject):
    what = "a member"


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _channel_ids(channel: Any, what: str) -> tuple[int, int | None]:
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    guild = channel.get("guild_id") if isinstance(channel, dict) else None
    return cid, None if guild is None else convert.snowflake_arg(guild, what="guild_id")


def _partial(client: discord.Client, message: Any, what: str) -> discord.PartialMessage:
    message_id, channel_id, guild_id = _message_ids(message, what)
    channel = client.get_partial_messageable(channel_id, guild_id=guild_id)
    return channel.get_partial_message(message_id)


def _from_payload(data: dict[str, Any], guild_id: int | None) -> dict[str, Any]:
    # Discord's REST messages carry no guild_id; the caller knows it (or it is a DM).
    if data.get("guild_id") is None and guild_id is not None:
        data = dict(data, guild_id=str(guild_id))
    return convert.message_from_payload(data)


def _user_from_payload(data: dict[str, Any]) -> dict[str, Any]:
    discriminator = data.get("discriminator") or "0"
    name = data["username"]
    return convert.UserObject(
        id=str(data["id"]),
        username=name,
        tag=name if discriminator in ("0", "0000") else f"{name}#{discriminator}",
        bot=bool(data.get("bot", False)),
        display_name=data.get("global_name") or name,
    )


def _emoji(emoji: Any, what: str) -> str:
    return emoji_arg(emoji, what)


def _limit(value: Any, default: int, top: int, what: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise EzError("TypeError", f"{what} limit must be a whole number, not {to_repr(value)}")
    n = int(value)
    if not 1 <= n <= top:
        raise EzError("ValueError", f"{what} limit must be between 1 and {top}, not {n}")
    return n


def _content_and_options(content: Any, options: Any, what: str) -> dict[str, Any]:
    """discord.py send/edit arguments from ``content`` and ``{embeds, embed, components}``."""
    if options is None:
        return _message_kwargs(content, what)
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{what} options must be an object, not {to_repr(options)}")
    merged = dict(content) if isinstance(content, dict) else {"content": content}
    for key, value in options.items():
        if key in ("embeds", "embed") and key in merged:
            raise EzError("ValueError", f"{what}: give {key} once, in content or in options")
        merged[key] = value
    return _message_kwargs(merged, what)


# ---- messages -------------------------------------------------------------------------------


async def edit_message(message: Any, content: Any, options: Any = None) -> dict[str, Any]:
    """Change the text (or ``{content, embeds, components}``) of one of the bot's messages."""
    what = "edit_message()"
    client = _client(what)
    target = _partial(client, message, what)
    kwargs = _content_and_options(content, options, what)
    try:
        edited = await target.edit(**kwargs)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return convert.message(edited)


async def delete_message(message: Any) -> None:
    """Delete a message (someone else's needs Manage Messages)."""
    what = "delete_message()"
    target = _partial(_client(what), message, what)
    try:
        await target.delete()
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def fetch_message(channel: Any, message_id: Any) -> dict[str, Any]:
    """One message of a channel by its id, from Discord (not a cache)."""
    what = "fetch_message()"
    client = _client(what)
    cid, gid = _channel_ids(channel, what)
    mid = convert.snowflake_arg(message_id, what=f"{what} message id")
    try:
        data = await client.http.get_message(cid, mid)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return _from_payload(dict(data), gid)


async def fetch_messages(channel: Any, limit: Any = None) -> list[dict[str, Any]]:
    """The last ``limit`` (1–100, default 50) messages of a channel, newest first."""
    what = "fetch_messages()"
    client = _client(what)
    cid, gid = _channel_ids(channel, what)
    n = _limit(limit, 50, 100, what)
    try:
        data = await client.http.logs_from(cid, n)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return [_from_payload(dict(m), gid) for m in data]


async def pin_message(message: Any) -> None:
    """Pin a message in its channel (needs Manage Messages; at most 50 pins a channel)."""
    what = "pin_message()"
    target = _partial(_client(what), message, what)
    try:
        await target.pin()
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def unpin_message(message: Any) -> None:
    """Unpin a message (needs Manage Messages)."""
    what = "unpin_message()"
    target = _partial(_client(what), message, what)
    try:
        await target.unpin()
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def fetch_pinned_messages(channel: Any) -> list[dict[str, Any]]:
    """The pinned messages of a channel, most recently pinned first."""
    what = "fetch_pinned_messages()"
    client = _client(what)
    cid, gid = _channel_ids(channel, what)
    try:
        data = await client.http.pins_from(cid)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return [_from_payload(dict(item["message"]), gid) for item in data.get("items", [])]


def _age_s(message_id: int) -> float:
    return time.time() - ((message_id >> 22) + _DISCORD_EPOCH_MS) / 1000


async def bulk_delete(channel: Any, amount: Any) -> int:
    """Delete the last ``amount`` (1–100) messages of a channel, or the given messages (an
    array of messages or ids); none may be older than 14 days. Returns how many were deleted."""
    what = "bulk_delete()"
    client = _client(what)
    cid, gid = _channel_ids(channel, what)
    if isinstance(amount, list):
        if len(amount) > BULK_DELETE_MAX:
            raise EzError(
                "ValueError",
                f"{what} can delete at most {BULK_DELETE_MAX} messages at a time "
                f"(Discord's limit), got {len(amount)}; split the array",
            )
        ids = [
            _message_ids(m, what)[0]
            if isinstance(m, dict)
            else convert.snowflake_arg(m, what=f"{what} message id")
            for m in amount
        ]
    else:
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount != int(amount):
            raise EzError(
                "TypeError",
                f"{what} needs how many messages to delete (a whole number from 1 to "
                f"{BULK_DELETE_MAX}) or an array of messages, not {to_repr(amount)}",
            )
        if not 1 <= amount <= BULK_DELETE_MAX:
            raise EzError(
                "ValueError",
                f"{what} can delete 1 to {BULK_DELETE_MAX} messages at a time "
                f"(Discord's limit), not {int(amount)}",
            )
        try:
            ids = [int(m["id"]) for m in await client.http.logs_from(cid, int(amount))]
        except discord.HTTPException as exc:
            raise discord_error(what, exc) from None
    ids = list(dict.fromkeys(ids))
    old = [i for i in ids if _age_s(i) >= BULK_DELETE_MAX_AGE_S]
    if old:
        raise EzError(
            "DiscordError",
            f"{what}: {len(old)} of the {len(ids)} messages are older than 14 days, and "
            "Discord only bulk deletes newer ones; delete those with delete_message()",
        )
    try:
        if len(ids) == 1:
            await client.http.delete_message(cid, ids[0])
        elif ids:
            await client.http.delete_messages(cid, list[str | int](ids))
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    del gid  # the channel id is enough for Discord
    return len(ids)


# ---- reactions ------------------------------------------------------------------------------


async def add_reaction(message: Any, emoji: Any) -> None:
    """Add a reaction to ``message`` (the older name of ``react``, same arguments)."""
    what = "add_reaction()"
    target = _partial(_client(what), message, what)
    try:
        await target.add_reaction(_emoji(emoji, what))
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def remove_reaction(message: Any, emoji: Any, user: Any = None) -> None:
    """Remove the bot's reaction, or ``user``'s (needs Manage Messages)."""
    what = "remove_reaction()"
    client = _client(what)
    target = _partial(client, message, what)
    if user is None:
        assert client.user is not None
        uid = client.user.id
    else:
        uid = convert.snowflake_arg(
            user.get("id") if isinstance(user, dict) else user, what=f"{what} user"
        )
    try:
        await target.remove_reaction(_emoji(emoji, what), discord.Object(id=uid))
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def clear_reactions(message: Any) -> None:
    """Remove every reaction from a message (needs Manage Messages)."""
    what = "clear_reactions()"
    target = _partial(_client(what), message, what)
    try:
        await target.clear_reactions()
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None


async def fetch_reactions(message: Any, emoji: Any) -> list[dict[str, Any]]:
    """The users who reacted to ``message`` with ``emoji`` (up to 100)."""
    what = "fetch_reactions()"
    client = _client(what)
    message_id, channel_id, _ = _message_ids(message, what)
    text = convert_emoji_reaction(_emoji(emoji, what))
    try:
        users = await client.http.get_reaction_users(channel_id, message_id, text, 100)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return [_user_from_payload(dict(u)) for u in users]


# ---- DMs ------------------------------------------------------------------------------------


def _user_id(user: Any, what: str) -> int:
    if isinstance(user, dict):
        user = user.get("id")
    return convert.snowflake_arg(user, what=f"{what} user")


def _dm_object(channel: discord.DMChannel, user_id: int) -> dict[str, Any]:
    return ChannelObject(
        id=str(channel.id),
        type="dm",
        name=None,
        guild_id=None,
        recipient_id=str(user_id),
    )


async def create_dm_channel(user: Any) -> dict[str, Any]:
    """Open (or reuse) the DM channel with a user; ``send_message(channel, …)`` posts in it."""
    what = "create_dm_channel()"
    client = _client(what)
    uid = _user_id(user, what)
    try:
        channel = await client.create_dm(discord.Object(id=uid))
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return _dm_object(channel, uid)


async def send_dm(user: Any, content: Any, options: Any = None) -> dict[str, Any]:
    """Send a direct message to a user (``content`` as for ``send_message``; ``options``:
    ``{embeds, embed, components}``); returns the message."""
    what = "send_dm()"
    client = _client(what)
    uid = _user_id(user, what)
    kwargs = _content_and_options(content, options, what)
    try:
        channel = await client.create_dm(discord.Object(id=uid))
        sent = await channel.send(**kwargs)
    except discord.HTTPException as exc:
        raise discord_error(what, exc) from None
    return convert.message(sent)


BUILTINS: dict[str, Callable[..., Any]] = {
    "edit_message": edit_message,
    "delete_message": delete_message,
    "fetch_message": fetch_message,
    "fetch_messages": fetch_messages,
    "pin_message": pin_message,
    "unpin_message": unpin_message,
    "fetch_pinned_messages": fetch_pinned_messages,
    "bulk_delete": bulk_delete,
    "add_reaction": add_reaction,
    "remove_reaction": remove_reaction,
    "clear_reactions": clear_reactions,
    "fetch_reactions": fetch_reactions,
    "send_dm": send_dm,
    "create_dm_channel": create_dm_channel,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
