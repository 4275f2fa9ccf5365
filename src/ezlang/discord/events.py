"""The events of ``listen``: which exist, the intent each needs, and how Discord's become ours.

One home for events. :data:`EVENTS` names every event under its discord.js name, with the
intent(s) a bot must ask for to receive it and what its handler gets. Delivery has two paths:

- discord.py's dispatched events (``ready``, ``message``, ``raw_reaction_add`` …) arrive
  through the clients' ``dispatch`` (:mod:`ezlang.discord.clients`), which looks them up in
  :data:`ROUTES`;
- the server events (members, roles, channels, threads, voice, bans, invites, webhooks, poll
  votes, guild updates) are read straight from the gateway payload by a wrapper around
  discord.py's parser (:mod:`ezlang.discord.server_events`), so that none is lost to
  discord.py's cache;
- new messages skip discord.py's Message when nothing needs it
  (:func:`install_fast_message_path`).

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


# ---- messages and reactions -----------------------------------------------------------------

#: How many recent messages are remembered for messageUpdate/messageDelete handlers.
RECENT_MESSAGES = 1000


def wants_history(rt: BotRuntime) -> bool:
    """Whether recent messages must be remembered (for messageUpdate/messageDelete)."""
    return bool(rt.handlers.get("messageUpdate") or rt.handlers.get("messageDelete"))


def wants_messages(rt: BotRuntime) -> bool:
    """Whether anything listens for new messages (handlers, history, collectors)."""
    return bool(rt.handlers.get("messageCreate") or wants_history(rt) or rt.collectors)


def on_message_dict(rt: BotRuntime, message: dict[str, Any]) -> None:
    """A new message as an EasyLang object: remember it if needed, run the handlers."""
    if wants_history(rt):
        recent = rt.recent
        recent[message["id"]] = message
        if len(recent) > RECENT_MESSAGES:
            recent.popitem(last=False)
    author = message.get("author")
    own = author is not None and author["id"] == rt.own_user_id()
    rt.emit("messageCreate", (message,), own=own)
    if rt.collectors:
        from ezlang.discord import collectors

        collectors.offer(rt, "message", message, own)


def on_reaction(rt: BotRuntime, reaction: dict[str, Any]) -> None:
    """A reaction was added: the messageReactionAdd handlers and reaction collectors."""
    own = reaction["user_id"] == rt.own_user_id()
    rt.emit("messageReactionAdd", (reaction, reaction["user"]), own=own)
    if rt.collectors:
        from ezlang.discord import collectors

        collectors.offer(rt, "reaction", reaction, own)


def install_fast_message_path(rt: BotRuntime, client: Any) -> None:
    """Turn MESSAGE_CREATE payloads into EasyLang objects without a discord.py Message.

    Used unless something needs discord.py's Message: a Python ``on_message`` put on the
    client (e.g. by a shard plugin) or the members intent (whose user cache the full parse
    fills).
    """
    if rt.intents.members:
        return
    state = client._connection
    original = state.parsers.get("MESSAGE_CREATE")
    if original is None:
        return
    listeners = client._listeners

    def parse_message_create(data: dict[str, Any]) -> None:
        if "on_message" in client.__dict__ or listeners.get("message"):
            original(data)
        elif wants_messages(rt):
            try:
                message = convert.message_from_payload(data)
            except (KeyError, TypeError, ValueError):
                # A payload we do not understand: discord.py's parser knows more shapes.
                original(data)
                return
            on_message_dict(rt, message)

    state.parsers["MESSAGE_CREATE"] = parse_message_create


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
    if wants_messages(rt):
        on_message_dict(rt, convert.message(args[0]))


def _route_reaction(rt: BotRuntime, client: Any, args: tuple[Any, ...]) -> None:
    if rt.handlers.get("messageReactionAdd") or rt.collectors:
        on_reaction(rt, convert.reaction(args[0]))


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
