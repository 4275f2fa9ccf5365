"""The events of ``listen``: which exist, the intent each needs, and how Discord's become ours.

One home for events. :data:`EVENTS` names every event under its discord.js name, with the
intent(s) a bot must ask for to receive it and what its handler gets. Delivery has two paths:

- discord.py's dispatched events (``ready``, ``message``, ``raw_reaction_add`` …) arrive
  through the clients' ``dispatch`` (:mod:`ezlang.discord.clients`), which looks them up in
  :data:`ROUTES`;
- the server events (members, roles, channels, threads, voice, bans, invites, webhooks, poll
  votes, guild updates) are read straight from the gateway payload by a wrapper around
  discord.py's parser (:func:`install`): discord.py still updates its cache, but an event is
  never lost because its cache lacks the member, role or thread (discord.py drops
  GUILD_MEMBER_UPDATE of an uncached member, THREAD_UPDATE of an unknown thread, …), and a
  join storm costs one dict per member instead of a discord.py object walk. The ``old`` side of
  an update comes from discord.py's cache as it was just before (null when it was not cached).

**Intents** (the rule, documented in docs/BOTS.md): intents are final when ``bot_start`` runs.
``listen`` of an event whose intent the bot has not asked for is an error *at that listen
line*: raised by ``bot_start`` when the listen came first (so ``set_intents`` may come after
``listen`` in a script), or by ``listen`` itself once the bot has started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from ezlang.discord import convert
from ezlang.discord.intents import PRIVILEGED_INTENTS
from ezlang.lang.errors import EzError, SourcePos, caller_position

if TYPE_CHECKING:
    from ezlang.discord.runtime import BotRuntime

_log = logging.getLogger("ezlang.discord")


@dataclass(frozen=True, slots=True)
class EventSpec:
    """An event of ``listen``: its name, the intents (any one suffices) and its arguments."""

    name: str
    intents: tuple[str, ...]
    args: str


_MESSAGES = ("guild_messages", "dm_messages")
_REACTIONS = ("guild_reactions", "dm_reactions")
_POLLS = ("guild_polls", "dm_polls")

#: Every event of ``listen``, by its discord.js name (docs/BOTS.md has the same table).
EVENTS: dict[str, EventSpec] = {
    spec.name: spec
    for spec in (
        EventSpec("ready", (), "client"),
        EventSpec("messageCreate", _MESSAGES, "message"),
        EventSpec("messageUpdate", _MESSAGES, "old, new"),
        EventSpec("messageDelete", _MESSAGES, "message"),
        EventSpec("messageReactionAdd", _REACTIONS, "reaction, user"),
        EventSpec("messageReactionRemove", _REACTIONS, "reaction, user"),
        EventSpec("messagePollVoteAdd", _POLLS, "vote, user_id"),
        EventSpec("messagePollVoteRemove", _POLLS, "vote, user_id"),
        EventSpec("guildCreate", ("guilds",), "guild"),
        EventSpec("guildUpdate", ("guilds",), "old, new"),
        EventSpec("guildDelete", ("guilds",), "guild"),
        EventSpec("guildMemberAdd", ("members",), "member"),
        EventSpec("guildMemberUpdate", ("members",), "old, new"),
        EventSpec("guildMemberRemove", ("members",), "member"),
        EventSpec("guildBanAdd", ("moderation",), "ban"),
        EventSpec("guildBanRemove", ("moderation",), "ban"),
        EventSpec("roleCreate", ("guilds",), "role"),
        EventSpec("roleUpdate", ("guilds",), "old, new"),
        EventSpec("roleDelete", ("guilds",), "role"),
        EventSpec("channelCreate", ("guilds",), "channel"),
        EventSpec("channelUpdate", ("guilds",), "old, new"),
        EventSpec("channelDelete", ("guilds",), "channel"),
        EventSpec("threadCreate", ("guilds",), "thread, newly_created"),
        EventSpec("threadUpdate", ("guilds",), "old, new"),
        EventSpec("threadDelete", ("guilds",), "thread"),
        EventSpec("voiceStateUpdate", ("voice_states",), "old, new"),
        EventSpec("inviteCreate", ("invites",), "invite"),
        EventSpec("inviteDelete", ("invites",), "invite"),
        EventSpec("webhooksUpdate", ("webhooks",), "channel"),
        EventSpec("interactionCreate", (), "interaction"),
        EventSpec("shardReady", (), "shard_id"),
        EventSpec("shardDisconnect", (), "event, shard_id"),
        EventSpec("shardResume", (), "shard_id"),
        EventSpec("error", (), "error"),
    )
}
_LOOKUP = {name.lower(): name for name in EVENTS} | {"message": "messageCreate"}


def event_name(event: str) -> str | None:
    """The event's discord.js name however it was capitalised (``"message"`` too), or None."""
    return _LOOKUP.get(event.lower())


def missing_intent(intents: discord.Intents, event: str) -> str | None:
    """Why ``intents`` cannot receive ``event``, as an error message; None if they can."""
    spec = EVENTS[event]
    if not spec.intents or any(getattr(intents, flag) for flag in spec.intents):
        return None
    wanted = " or ".join(f'"{flag}"' for flag in spec.intents)
    text = (
        f"the {event} event needs the {wanted} intent, which this bot does not ask for: add "
        f'it with set_intents([..., "{spec.intents[0]}"]) or add_intent("{spec.intents[0]}") '
        "before bot_start()"
    )
    switch = PRIVILEGED_INTENTS.get(spec.intents[0])
    if switch is not None:
        text += (
            f'; "{spec.intents[0]}" is privileged: also turn on {switch} at '
            "https://discord.com/developers/applications → your app → Bot → Privileged "
            "Gateway Intents"
        )
    return text


Where = tuple[SourcePos, str | None] | None


def intent_error(message: str, where: Where) -> EzError:
    """A DiscordError about an intent, placed at the ``listen`` line that needs it."""
    if where is None:
        return EzError("DiscordError", message)
    err = EzError("DiscordError", message, pos=where[0])
    err.source_line = where[1]  # type: ignore[attr-defined]
    return err


def check_on_listen(rt: BotRuntime, event: str) -> Where:
    """At ``listen``: an error now if the bot runs without the intent; else the listen's
    position, kept so that :func:`check_at_start` can name this line."""
    where = caller_position()
    if rt.client is not None:
        message = missing_intent(rt.intents, event)
        if message is not None:
            raise intent_error(message, where)
    return where


def check_at_start(rt: BotRuntime) -> None:
    """At ``bot_start`` (intents are final): the first listen whose intent is missing."""
    for event, handlers in rt.handlers.items():
        message = missing_intent(rt.intents, event)
        if message is not None:
            raise intent_error(message, handlers[0].where)


# ---- discord.py's dispatched events ---------------------------------------------------------

Route = Callable[["BotRuntime", Any, tuple[Any, ...]], None]


def _route_ready(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    rt.on_ready(client)
    if rt.interactions is not None:
        from ezlang.discord import interactions

        interactions.on_ready(rt)


def _route_interaction(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.interactions is not None or rt.handlers.get("interactionCreate"):
        from ezlang.discord import interactions

        interactions.dispatch(rt, client, args[0])


def _route_message(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.wants_messages():
        rt.on_message_dict(convert.message(args[0]))


def _route_reaction(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageReactionAdd") or rt.collectors:
        rt.on_reaction(convert.reaction(args[0]))


def _route_reaction_remove(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageReactionRemove"):
        raw: discord.RawReactionActionEvent = args[0]
        reaction = convert.reaction(raw)
        # MESSAGE_REACTION_REMOVE carries no member: the user from the cache, if there.
        user = convert.user(client.get_user(raw.user_id))
        reaction["user"] = user
        own = reaction["user_id"] == rt.own_user_id()
        rt.emit("messageReactionRemove", (reaction, user), own=own)


def _route_message_edit(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageUpdate"):
        raw: discord.RawMessageUpdateEvent = args[0]
        new = convert.message(raw.message)
        if raw.cached_message is not None:
            old: dict[str, Any] | None = convert.message(raw.cached_message)
        else:
            old = rt.recent.get(new["id"])
        if new["id"] in rt.recent:
            rt.recent[new["id"]] = new
        rt.emit("messageUpdate", (old, new))


def _route_message_delete(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageDelete"):
        raw: discord.RawMessageDeleteEvent = args[0]
        remembered = rt.recent.pop(str(raw.message_id), None)
        if raw.cached_message is not None:
            value = convert.message(raw.cached_message)
        elif remembered is not None:
            value = remembered
        else:
            value = convert.partial_message(raw.message_id, raw.channel_id, raw.guild_id)
        rt.emit("messageDelete", (value,))


def _route_guild(event: str) -> Route:
    def route(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
        if rt.handlers.get(event):
            rt.emit(event, (convert.guild(args[0]),))

    return route


#: discord.py event name → what EasyLang makes of it.
ROUTES: dict[str, Route] = {
    "ready": _route_ready,
    "message": _route_message,
    "raw_message_edit": _route_message_edit,
    "raw_message_delete": _route_message_delete,
    "raw_reaction_add": _route_reaction,
    "raw_reaction_remove": _route_reaction_remove,
    "interaction": _route_interaction,
    "guild_join": _route_guild("guildCreate"),
    "guild_remove": _route_guild("guildDelete"),
}


# ---- server events, from the gateway payload -------------------------------------------------

#: A payload reader: (runtime, client state, payload, discord.py's parser) → nothing.
Reader = Callable[["BotRuntime", Any, dict[str, Any], Callable[[Any], None]], None]


def _gid(data: dict[str, Any]) -> int:
    return int(data["guild_id"])


def _member_add(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import member_from_payload

    parse(data)
    rt.emit("guildMemberAdd", (member_from_payload(data, _gid(data)),))


def _cached_member(state: Any, gid: int, uid: int) -> dict[str, Any] | None:
    guild = state._get_guild(gid)
    member = None if guild is None else guild.get_member(uid)
    if member is None:
        return None
    from ezlang.discord.lookups import member_object

    return member_object(member)


def _member_update(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import member_from_payload

    gid = _gid(data)
    old = _cached_member(state, gid, int(data["user"]["id"]))
    parse(data)
    rt.emit("guildMemberUpdate", (old, member_from_payload(data, gid)))


def _member_remove(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import member_from_payload

    gid = _gid(data)
    member = _cached_member(state, gid, int(data["user"]["id"]))
    parse(data)
    if member is None:  # not cached: what Discord says (the user), no roles or nickname
        member = member_from_payload({"user": data["user"]}, gid)
    rt.emit("guildMemberRemove", (member,))


def _ban(event: str) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        parse(data)
        ban = _BanObject(guild_id=str(data["guild_id"]), user=_user(data["user"]))
        rt.emit(event, (ban,))

    return read


def _user(data: dict[str, Any]) -> dict[str, Any]:
    from ezlang.discord.members import member_from_payload

    member = member_from_payload({"user": data}, 0)
    return convert.UserObject(
        {k: member[k] for k in ("id", "username", "tag", "bot")}
        | {"display_name": member["display_name"]}
    )


class _BanObject(convert.DiscordObject):
    what = "a ban"


class VoiceStateObject(convert.DiscordObject):
    what = "a voice state"


class PollVoteObject(convert.DiscordObject):
    what = "a poll vote"


def _cached_role(state: Any, gid: int, rid: int) -> dict[str, Any] | None:
    guild = state._get_guild(gid)
    role = None if guild is None else guild.get_role(rid)
    if role is None:
        return None
    from ezlang.discord.lookups import role_object

    return role_object(role)


def _role_create(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import role_from_payload

    parse(data)
    rt.emit("roleCreate", (role_from_payload(data["role"], _gid(data)),))


def _role_update(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.members import role_from_payload

    gid = _gid(data)
    old = _cached_role(state, gid, int(data["role"]["id"]))
    parse(data)
    rt.emit("roleUpdate", (old, role_from_payload(data["role"], gid)))


def _role_delete(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    from ezlang.discord.messages import RoleObject

    gid = _gid(data)
    role = _cached_role(state, gid, int(data["role_id"]))
    parse(data)
    if role is None:
        role = RoleObject(id=str(data["role_id"]), name=None, color=0, position=None,
                          permissions=[], mentionable=False, hoist=False, guild_id=str(gid))  # fmt: skip
    rt.emit("roleDelete", (role,))


def _cached_channel(state: Any, data: dict[str, Any]) -> dict[str, Any] | None:
    guild = None if data.get("guild_id") is None else state._get_guild(_gid(data))
    if guild is None:
        return None
    cid = int(data["id"])
    found = guild.get_channel(cid) or guild.get_thread(cid)
    return None if found is None else convert.channel(found)


def _channel(event: str, *, old: bool = False, cached_first: bool = False) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        before = _cached_channel(state, data) if old or cached_first else None
        parse(data)
        new = convert.channel_from_payload(data)
        if old:
            rt.emit(event, (before, new))
        elif cached_first and before is not None:  # a deleted thread's payload is partial
            rt.emit(event, (before,))
        elif event == "threadCreate":
            rt.emit(event, (new, bool(data.get("newly_created", False))))
        else:
            rt.emit(event, (new,))

    return read


def _guild_update(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    guild = state._get_guild(int(data["id"]))
    old = None if guild is None else convert.guild(guild)
    parse(data)
    guild = state._get_guild(int(data["id"]))
    if guild is not None:
        new = convert.guild(guild)
    else:
        new = convert.GuildObject(id=str(data["id"]), name=data.get("name"), member_count=None,
                                  shard_id=None, owner_id=data.get("owner_id"))  # fmt: skip
    rt.emit("guildUpdate", (old, new))


_VOICE_FLAGS = ("self_mute", "self_deaf", "mute", "deaf", "self_video", "self_stream", "suppress")


def _voice(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    if data.get("guild_id") is None:  # a DM call: not a server's voice state
        parse(data)
        return
    gid, uid = _gid(data), int(data["user_id"])
    guild = state._get_guild(gid)
    before = None if guild is None else guild._voice_state_for(uid)
    old = None
    if before is not None and before.channel is not None:
        old = VoiceStateObject(
            guild_id=str(gid), channel_id=str(before.channel.id), user_id=str(uid),
            member=None, session_id=before.session_id,
            **{flag: bool(getattr(before, flag, False)) for flag in _VOICE_FLAGS},
        )  # fmt: skip
    parse(data)
    member_data = data.get("member")
    member = None
    if member_data is not None:
        from ezlang.discord.members import member_from_payload

        member = member_from_payload(member_data, gid)
    if old is not None:
        old["member"] = member
    channel = data.get("channel_id")
    new = VoiceStateObject(
        guild_id=str(gid), channel_id=None if channel is None else str(channel),
        user_id=str(uid), member=member, session_id=data.get("session_id"),
        **{flag: bool(data.get(flag, False)) for flag in _VOICE_FLAGS},
    )  # fmt: skip
    rt.emit("voiceStateUpdate", (old, new))


def _invite(event: str) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        from ezlang.discord.invites import invite_object

        parse(data)
        shaped = dict(data)
        shaped["channel"] = {"id": data.get("channel_id")}
        shaped["guild"] = {"id": data.get("guild_id")}
        rt.emit(event, (invite_object(shaped),))

    return read


def _webhooks(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
    parse(data)
    found = _cached_channel(state, {"id": data["channel_id"], "guild_id": data["guild_id"]})
    if found is None:
        found = convert.channel_from_payload(
            {"id": data["channel_id"], "guild_id": data["guild_id"]}
        )
    rt.emit("webhooksUpdate", (found,))


def _poll_vote(event: str) -> Reader:
    def read(rt: BotRuntime, state: Any, data: dict[str, Any], parse: Any) -> None:
        parse(data)
        vote = PollVoteObject(
            user_id=str(data["user_id"]),
            channel_id=str(data["channel_id"]),
            message_id=str(data["message_id"]),
            guild_id=None if data.get("guild_id") is None else str(data["guild_id"]),
            answer_id=int(data["answer_id"]),
        )
        rt.emit(event, (vote, vote["user_id"]))

    return read


#: Gateway event → (our event, its reader). Read only when a handler listens.
READERS: dict[str, tuple[str, Reader]] = {
    "GUILD_UPDATE": ("guildUpdate", _guild_update),
    "GUILD_MEMBER_ADD": ("guildMemberAdd", _member_add),
    "GUILD_MEMBER_UPDATE": ("guildMemberUpdate", _member_update),
    "GUILD_MEMBER_REMOVE": ("guildMemberRemove", _member_remove),
    "GUILD_BAN_ADD": ("guildBanAdd", _ban("guildBanAdd")),
    "GUILD_BAN_REMOVE": ("guildBanRemove", _ban("guildBanRemove")),
    "GUILD_ROLE_CREATE": ("roleCreate", _role_create),
    "GUILD_ROLE_UPDATE": ("roleUpdate", _role_update),
    "GUILD_ROLE_DELETE": ("roleDelete", _role_delete),
    "CHANNEL_CREATE": ("channelCreate", _channel("channelCreate")),
    "CHANNEL_UPDATE": ("channelUpdate", _channel("channelUpdate", old=True)),
    "CHANNEL_DELETE": ("channelDelete", _channel("channelDelete")),
    "THREAD_CREATE": ("threadCreate", _channel("threadCreate")),
    "THREAD_UPDATE": ("threadUpdate", _channel("threadUpdate", old=True)),
    "THREAD_DELETE": ("threadDelete", _channel("threadDelete", cached_first=True)),
    "VOICE_STATE_UPDATE": ("voiceStateUpdate", _voice),
    "INVITE_CREATE": ("inviteCreate", _invite("inviteCreate")),
    "INVITE_DELETE": ("inviteDelete", _invite("inviteDelete")),
    "WEBHOOKS_UPDATE": ("webhooksUpdate", _webhooks),
    "MESSAGE_POLL_VOTE_ADD": ("messagePollVoteAdd", _poll_vote("messagePollVoteAdd")),
    "MESSAGE_POLL_VOTE_REMOVE": ("messagePollVoteRemove", _poll_vote("messagePollVoteRemove")),
}


def install(rt: BotRuntime, client: Any) -> None:
    """Wrap discord.py's parsers of the server events so that :data:`READERS` see them."""
    state = client._connection
    parsers = state.parsers
    for gateway_event, (event, reader) in READERS.items():
        original = parsers.get(gateway_event)
        if original is None:
            continue
        parsers[gateway_event] = _wrap(rt, state, event, reader, original)


def _wrap(rt: BotRuntime, state: Any, event: str, reader: Reader, original: Any) -> Any:
    handlers = rt.handlers

    def parse(data: Any) -> None:
        if not handlers.get(event):
            original(data)
            return
        done = False

        def parse_once(payload: Any) -> None:
            nonlocal done
            done = True
            original(payload)

        # This runs inside discord.py's gateway reader: an exception would end the
        # connection, so a payload we cannot convert is logged and skipped instead.
        try:
            reader(rt, state, data, parse_once)
        except Exception:
            _log.exception("ezlang could not deliver the %s event", event)
            if not done:
                original(data)

    return parse
