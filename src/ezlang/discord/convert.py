"""discord.py objects → plain EasyLang values (dicts with string keys).

EasyLang code never sees a discord.py object: a message is an ordinary object a beginner can
print, compare and pass around. Snowflake ids are strings, as in Discord's JSON and in
discord.js, because EasyLang numbers are JavaScript-like and ids do not fit in a double.
"""

from __future__ import annotations

from typing import Any

import discord

from ezlang.lang.errors import EzError
from ezlang.lang.values import EzObject, to_repr


class DiscordObject(dict[str, Any], EzObject):
    """A Discord object as EasyLang sees it: a read-only object of known fields.

    Unlike a user's own objects, a message or user always has the same fields, so reading one
    it does not have (``msg.contnet``) is a mistake: it raises a TypeError naming the closest
    field instead of reading as null. It is still a ``dict`` for Python code (and for the trip
    to a shard manager), and printing, ``keys()``, ``has_key`` and ``json_stringify`` see its
    fields.
    """

    #: What the object is, for error messages ("a message has no field ...").
    what = "Discord object"

    def ez_get(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            pass
        import difflib

        close = difflib.get_close_matches(name, list(self), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise EzError(
            "TypeError",
            f"{self.what} has no field '{name}'{hint}; its fields are: {', '.join(self)}",
        )

    def ez_keys(self) -> list[str]:
        return list(self)

    def __repr__(self) -> str:
        return f"<{self.what} {dict.__repr__(self)}>"


class MessageObject(DiscordObject):
    what = "a message"


class UserObject(DiscordObject):
    what = "a user"


class GuildObject(DiscordObject):
    what = "a guild"


class ReactionObject(DiscordObject):
    what = "a reaction"


def snowflake(value: int | None) -> str | None:
    """A Discord id as EasyLang sees it: a string (or null)."""
    return None if value is None else str(value)


def user(u: discord.abc.User | None) -> dict[str, Any] | None:
    """``{id, username, tag, bot, display_name}`` of a user or member."""
    if u is None:
        return None
    discriminator = getattr(u, "discriminator", "0") or "0"
    # New-style Discord usernames have discriminator "0": the tag is just the name (discord.js).
    tag = u.name if discriminator == "0" else f"{u.name}#{discriminator}"
    return UserObject(
        id=str(u.id),
        username=u.name,
        tag=tag,
        bot=bool(u.bot),
        display_name=u.display_name,
    )


def message(m: discord.Message) -> dict[str, Any]:
    """``{id, content, channel_id, guild_id, author, created_at, created_timestamp, …}``."""
    created = m.created_at
    return MessageObject(
        {
            "id": str(m.id),
            "content": m.content,
            "channel_id": str(m.channel.id),
            "guild_id": None if m.guild is None else str(m.guild.id),
            # discord.py leaves author unset when the payload's user object is incomplete.
            "author": user(getattr(m, "author", None)),
            "created_at": created.isoformat(),
            "created_timestamp": int(created.timestamp() * 1000),
            "edited_at": None if m.edited_at is None else m.edited_at.isoformat(),
            "mentions": [str(u.id) for u in m.mentions],
            "embeds": [e.to_dict() for e in m.embeds],
            "partial": False,
        }
    )


def partial_message(message_id: int, channel_id: int, guild_id: int | None) -> dict[str, Any]:
    """A message discord.py no longer has in its cache: only where it was (e.g. messageDelete)."""
    return MessageObject(
        {
            "id": str(message_id),
            "content": None,
            "channel_id": str(channel_id),
            "guild_id": snowflake(guild_id),
            "author": None,
            "created_at": discord.utils.snowflake_time(message_id).isoformat(),
            "created_timestamp": int(discord.utils.snowflake_time(message_id).timestamp() * 1000),
            "edited_at": None,
            "mentions": [],
            "embeds": [],
            "partial": True,
        }
    )


def guild(g: discord.Guild) -> dict[str, Any]:
    """``{id, name, member_count, shard_id, owner_id}`` of a guild."""
    return GuildObject(
        id=str(g.id),
        name=g.name,
        member_count=g.member_count,
        shard_id=g.shard_id,
        owner_id=snowflake(g.owner_id),
    )


def channel_id_of(value: Any, *, what: str) -> int:
    """A channel id from what a beginner may pass: an id (string/number), a message or channel."""
    if isinstance(value, dict):
        if "channel_id" in value:
            value = value["channel_id"]
        elif "id" in value:
            value = value["id"]
    return snowflake_arg(value, what=what)


def snowflake_arg(value: Any, *, what: str) -> int:
    """Parse an id argument (``"123"`` or ``123``), raising a clear TypeError otherwise."""

    if isinstance(value, bool) or value is None:
        raise EzError(
            "TypeError", f"{what} must be an id (a string of digits), not {to_repr(value)}"
        )
    given = value  # for the message: 1e300 reads as itself, not as its 301 digits
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and value > 0:
        # Discord ids are 64-bit; a bigger number cannot name anything (and discord.py would
        # fail on it with a Python error when it is put in a request).
        if value >= 1 << 64:
            raise EzError(
                "ValueError",
                f"{what} must be a Discord id (at most 20 digits), not {to_repr(given)}",
            )
        return value
    raise EzError("TypeError", f"{what} must be an id (a string of digits), not {to_repr(value)}")


_DISCORD_EPOCH_MS = 1_420_070_400_000


def message_from_payload(data: dict[str, Any]) -> dict[str, Any]:
    """The same object as :func:`message`, built straight from a MESSAGE_CREATE payload.

    The fast path for ``on_message``: building discord.py's ``Message`` (members, roles,
    mentions, components …) costs more than the rest of the event's journey together, and an
    EasyLang handler only ever sees this dict.
    """
    author = data["author"]
    discriminator = author.get("discriminator") or "0"
    username = author["username"]
    member = data.get("member") or {}
    message_id = int(data["id"])
    ms = (message_id >> 22) + _DISCORD_EPOCH_MS
    guild_id = data.get("guild_id")
    return MessageObject(
        {
            "id": str(data["id"]),
            "content": data.get("content", ""),
            "channel_id": str(data["channel_id"]),
            "guild_id": None if guild_id is None else str(guild_id),
            "author": UserObject(
                id=str(author["id"]),
                username=username,
                tag=username if discriminator in ("0", "0000") else f"{username}#{discriminator}",
                bot=bool(author.get("bot", False)),
                display_name=member.get("nick") or author.get("global_name") or username,
            ),
            # Discord's own "timestamp" is the creation time in ISO 8601 (as created_at shows it).
            "created_at": data.get("timestamp") or _iso_utc(ms),
            "created_timestamp": ms,
            "edited_at": _normalise_iso(data.get("edited_timestamp")),
            "mentions": [str(u["id"]) for u in data.get("mentions") or ()],
            "embeds": list(data.get("embeds") or ()),
            "partial": False,
        }
    )


def emoji_text(emoji: discord.PartialEmoji) -> str:
    """An emoji as ``react()`` takes it: ``"👍"``, or ``"<:name:id>"`` for a custom one."""
    if emoji.id is None:
        return emoji.name or ""
    return f"<{'a' if emoji.animated else ''}:{emoji.name}:{emoji.id}>"


def reaction(raw: discord.RawReactionActionEvent) -> dict[str, Any]:
    """``{emoji, message_id, channel_id, guild_id, user_id, user}`` of an added reaction."""
    member = raw.member
    return ReactionObject(
        emoji=emoji_text(raw.emoji),
        message_id=str(raw.message_id),
        channel_id=str(raw.channel_id),
        guild_id=snowflake(raw.guild_id),
        user_id=str(raw.user_id),
        # The member comes with guild reactions; a DM reaction has only the user id.
        user=user(member) if member is not None else None,
    )


def _iso_utc(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC).isoformat()


def _normalise_iso(value: Any) -> str | None:
    if not value:
        return None
    parsed = discord.utils.parse_time(value)
    return None if parsed is None else parsed.isoformat()


# ---- channels and threads -------------------------------------------------------------------

#: Discord's channel types by number, with the names EasyLang shows (``channel.type``).
CHANNEL_TYPES: dict[int, str] = {
    0: "text",
    1: "dm",
    2: "voice",
    3: "group_dm",
    4: "category",
    5: "announcement",
    10: "announcement_thread",
    11: "public_thread",
    12: "private_thread",
    13: "stage",
    15: "forum",
    16: "media",
}
THREAD_TYPES = frozenset((10, 11, 12))


class ChannelObject(DiscordObject):
    what = "a channel"


class ThreadObject(DiscordObject):
    what = "a thread"


class ThreadMemberObject(DiscordObject):
    what = "a thread member"


def channel_from_payload(data: dict[str, Any]) -> dict[str, Any]:
    """A channel or thread from Discord's channel JSON.

    A channel: ``{id, name, type, guild_id, topic, position, parent_id}``; a thread:
    ``{id, name, type, guild_id, parent_id, owner_id, archived, locked, auto_archive_duration,
    member_count}`` (``type`` as in :data:`CHANNEL_TYPES`: ``"text"``, ``"public_thread"`` …).
    """
    kind = int(data.get("type", 0))
    common = {
        "id": str(data["id"]),
        "name": data.get("name"),
        "type": CHANNEL_TYPES.get(kind, str(kind)),
        "guild_id": None if data.get("guild_id") is None else str(data["guild_id"]),
    }
    if kind in THREAD_TYPES:
        meta = data.get("thread_metadata") or {}
        return ThreadObject(
            common,
            parent_id=snowflake(_int_or_none(data.get("parent_id"))),
            owner_id=snowflake(_int_or_none(data.get("owner_id"))),
            archived=bool(meta.get("archived", False)),
            locked=bool(meta.get("locked", False)),
            auto_archive_duration=meta.get("auto_archive_duration"),
            member_count=data.get("member_count"),
        )
    return ChannelObject(
        common,
        topic=data.get("topic"),
        position=data.get("position"),
        parent_id=None if data.get("parent_id") is None else str(data["parent_id"]),
    )


def channel(ch: discord.abc.GuildChannel | discord.Thread) -> dict[str, Any]:
    """The same object as :func:`channel_from_payload`, from a discord.py channel or thread
    (what the channel and thread events hand to EasyLang)."""
    common = {
        "id": str(ch.id),
        "name": ch.name,
        "type": CHANNEL_TYPES.get(ch.type.value, str(ch.type.value)),
        "guild_id": str(ch.guild.id),
    }
    if isinstance(ch, discord.Thread):
        return ThreadObject(
            common,
            parent_id=snowflake(ch.parent_id),
            owner_id=snowflake(ch.owner_id),
            archived=ch.archived,
            locked=ch.locked,
            auto_archive_duration=ch.auto_archive_duration,
            member_count=ch.member_count,
        )
    return ChannelObject(
        common,
        topic=getattr(ch, "topic", None),
        position=ch.position,
        parent_id=snowflake(ch.category_id),
    )


def thread_member(data: dict[str, Any]) -> dict[str, Any]:
    """``{id, thread_id, joined_at}`` (``id`` is the user's) from Discord's thread member."""
    return ThreadMemberObject(
        id=str(data["user_id"]),
        thread_id=str(data["id"]),
        joined_at=_normalise_iso(data.get("join_timestamp")),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
