"""The EasyLang builtins for Discord bots (every name of ``ezlang.extensions.DISCORD_BUILTINS``).

Imported lazily the first time a program calls one of them (see ``ezlang.extensions``), so
programs without a bot never import discord.py. Each builtin takes and returns plain EasyLang
values and raises ``EzError``; the state lives in :mod:`ezlang.discord.runtime`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import collectors, components, convert
from ezlang.discord import embeds as embeds_mod
from ezlang.discord.runtime import BotRuntime, parse_intents, rest_error, runtime
from ezlang.discord.view import ClientView
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import EzObject, to_repr, to_str

__all__ = ["BUILTINS"]


def _to_text(value: Any, what: str) -> str:
    """The message text for ``value`` (as ``print`` shows it); a function is refused: sending
    ``<function …>`` is always a forgotten call, never what the user meant."""
    if callable(value) and not isinstance(value, EzObject):
        raise EzError(
            "TypeError",
            f"{what} got a function as the message text; call it (with ()) to send what it returns",
        )
    return to_str(value)


# A custom emoji as Discord's reaction routes take it: <:name:id>, <a:name:id> or name:id.
_CUSTOM_EMOJI = re.compile(r"<?a?:?\w+:\d+>?")


def emoji_arg(emoji: Any, what: str) -> str:
    """A reaction emoji argument: a Unicode emoji or a custom ``<:name:id>``."""
    if not isinstance(emoji, str) or not emoji.strip():
        raise EzError(
            "TypeError", f'{what} needs an emoji string such as "👍", not {to_repr(emoji)}'
        )
    text = emoji.strip()
    # Plain ASCII text is never an emoji (every Unicode emoji has a non-ASCII character);
    # Discord would answer 10014 Unknown Emoji, which reads like "nobody reacted with it".
    if text.isascii() and not _CUSTOM_EMOJI.fullmatch(text):
        raise EzError(
            "ValueError",
            f'{what}: {to_repr(emoji)} is not an emoji; use a Unicode emoji such as "👍" or a'
            " custom emoji as <:name:id>",
        )
    return text


def _message_kwargs(content: Any, what: str) -> dict[str, Any]:
    """``content`` as discord.py send() arguments: a string, or ``{content, embeds,
    components}`` (embeds and components are checked in ``embeds.py`` / ``components.py``)."""
    kwargs: dict[str, Any] = {}
    if isinstance(content, dict):
        unknown = set(content) - {"content", "embeds", "embed", "components", "poll"}
        if unknown:
            raise EzError(
                "ValueError",
                f"{what}: unknown message field(s) {', '.join(sorted(unknown))}; "
                "a message object has content, embeds, components and poll",
            )
        if content.get("poll") is not None:
            from ezlang.discord.polls import to_discord  # noqa: PLC0415 - polls imports this

            kwargs["poll"] = to_discord(content["poll"], what)
        if content.get("components"):
            kwargs["view"] = components.view_of(content["components"], what)
        text = content.get("content")
        if text is not None:
            kwargs["content"] = _to_text(text, what)
        embeds = content.get("embeds") or []
        if content.get("embed") is not None:
            embeds = [*embeds, content["embed"]]
        if not isinstance(embeds, list):
            raise EzError("TypeError", f"{what}: embeds must be an array of objects")
        if embeds:
            kwargs["embeds"] = embeds_mod.to_discord(embeds, what)
    elif content is not None:
        kwargs["content"] = _to_text(content, what)
    if not any(kwargs.get(k) for k in ("content", "embeds", "view", "poll")):
        raise EzError("ValueError", f"{what}: cannot send an empty message")
    return kwargs


def _message_ids(message: Any, what: str) -> tuple[int, int, int | None]:
    """(message id, channel id, guild id) of a message object handed to EasyLang."""
    if not isinstance(message, dict) or "id" not in message or "channel_id" not in message:
        raise EzError(
            "TypeError", f"{what} needs a message object (from on_message), not {to_repr(message)}"
        )
    guild = message.get("guild_id")
    return (
        convert.snowflake_arg(message["id"], what="message.id"),
        convert.snowflake_arg(message["channel_id"], what="message.channel_id"),
        None if guild is None else convert.snowflake_arg(guild, what="message.guild_id"),
    )


async def bot_start(token: Any = None) -> None:
    """Log in and start connecting; the program then stays up while the bot is connected."""
    await runtime().start(token)


async def bot_stop() -> None:
    """Close the gateway connection cleanly (close code 1000)."""
    await runtime().stop()


def on_ready(fn: Any) -> None:
    """Run ``fn(client)`` when the bot is connected and has its guilds."""
    runtime().add_handler("ready", fn)


def on_message(fn: Any, options: Any = None) -> None:
    """Run ``fn(message)`` for every message the bot can see, except its own unless
    ``options`` is ``{include_self: true}`` (so a bot cannot answer itself in a loop)."""
    runtime().add_handler("messageCreate", fn, options)


def listen(event: Any, fn: Any, options: Any = None) -> None:
    """Run ``fn`` on ``event`` (``ready``, ``messageCreate``, …); several handlers run in order."""
    runtime().add_handler(event, fn, options)


_SEND_OPTIONS = ("reply_to", "embeds", "embed", "components")


def _send_options(
    options: Any, kwargs: dict[str, Any], channel_id: int, guild_id: int | None
) -> None:
    """Apply ``send_message``'s third argument: ``{reply_to, embeds, embed, components}``."""
    what = "send_message()"
    if options is None:
        return
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{what} options must be an object, not {to_repr(options)}")
    unknown = sorted(set(options) - set(_SEND_OPTIONS))
    if unknown:
        raise EzError(
            "ValueError",
            f"{what}: unknown option(s) {', '.join(unknown)}; the options are "
            "reply_to (a message or its id), embeds, embed and components",
        )
    if options.get("components"):
        kwargs["view"] = components.view_of(options["components"], what)
    extra = {k: options[k] for k in ("embeds", "embed") if options.get(k) is not None}
    if extra:
        kwargs["embeds"] = kwargs.get("embeds", []) + _message_kwargs(extra, what)["embeds"]
    target = options.get("reply_to")
    if target is not None:
        if isinstance(target, dict):
            message_id, channel_id, guild_id = _message_ids(target, f"{what} reply_to")
        else:
            message_id = convert.snowflake_arg(target, what=f"{what} reply_to")
        kwargs["reference"] = discord.MessageReference(
            message_id=message_id,
            channel_id=channel_id,
            guild_id=guild_id,
            fail_if_not_exists=False,
        )


async def send_message(channel: Any, content: Any, options: Any = None) -> dict[str, Any]:
    """Post ``content`` (a string or ``{content, embeds}``) in a channel; returns the message.

    ``options``: ``{reply_to: message or id, embeds: [...], embed: {...}}``.
    """
    rt = runtime()
    client = rt.require_client("send_message()")
    channel_id = convert.channel_id_of(channel, what="send_message() channel")
    guild = channel.get("guild_id") if isinstance(channel, dict) else None
    guild_id = None if guild is None else convert.snowflake_arg(guild, what="guild_id")
    has_embeds = isinstance(options, dict) and (
        options.get("embeds") or options.get("embed") or options.get("components")
    )
    if content is None and has_embeds:
        kwargs: dict[str, Any] = {}  # only embeds: the options carry them
    else:
        kwargs = _message_kwargs(content, "send_message()")
    _send_options(options, kwargs, channel_id, guild_id)
    target = client.get_partial_messageable(channel_id, guild_id=guild_id)
    try:
        sent = await target.send(**kwargs)
    except discord.HTTPException as exc:
        raise rest_error("send_message()", exc) from None
    return convert.message(sent)


async def reply(message: Any, content: Any) -> dict[str, Any]:
    """Answer ``message`` in its channel, as a Discord reply; returns the message sent."""
    rt = runtime()
    client = rt.require_client("reply()")
    message_id, channel_id, guild_id = _message_ids(message, "reply()")
    kwargs = _message_kwargs(content, "reply()")
    reference = discord.MessageReference(
        message_id=message_id, channel_id=channel_id, guild_id=guild_id, fail_if_not_exists=False
    )
    target = client.get_partial_messageable(channel_id, guild_id=guild_id)
    try:
        sent = await target.send(reference=reference, **kwargs)
    except discord.HTTPException as exc:
        raise rest_error("reply()", exc) from None
    return convert.message(sent)


async def react(message: Any, emoji: Any) -> None:
    """Add a reaction (``"👍"`` or a custom ``"<:name:id>"``) to ``message``."""
    rt = runtime()
    client = rt.require_client("react()")
    message_id, channel_id, guild_id = _message_ids(message, "react()")
    text = emoji_arg(emoji, "react()")
    partial = client.get_partial_messageable(channel_id, guild_id=guild_id)
    try:
        await partial.get_partial_message(message_id).add_reaction(text)
    except discord.HTTPException as exc:
        raise rest_error("react()", exc) from None


async def set_status(status: Any, activity: Any = None, text: Any = None) -> None:
    """``set_status(status, activity?, text?)``: ``online``, ``idle``, ``dnd`` or
    ``invisible``, and optionally the activity type and text in the same call
    (``set_status("dnd", "watching", "the logs")``); before or after ``bot_start``."""
    rt = runtime()
    if activity is not None or text is not None:
        if activity is None or text is None:
            raise EzError(
                "ArgumentError",
                "set_status(status, activity, text) needs both the activity type and its text, "
                'e.g. set_status("online", "playing", "chess")',
            )
        rt.set_activity(text, activity, what="set_status")
    rt.set_status(status)
    await rt.push_presence()


async def set_activity(name: Any, kind: Any = None, options: Any = None) -> None:
    """``set_activity(name, type?, options?)``: the text under the bot's name; type is
    ``playing`` (default), ``watching``, ``listening``, ``competing`` or ``streaming``
    (options ``{url}`` for the stream link). ``set_activity(null)`` clears it."""
    url = None
    if options is not None:
        if not isinstance(options, dict) or set(options) - {"url"}:
            raise EzError(
                "ValueError",
                f"set_activity() options are {{url}} (for streaming), not {to_repr(options)}",
            )
        url = options.get("url")
    rt = runtime()
    rt.set_activity(name, kind, url, what="set_activity")
    await rt.push_presence()


# ---- collectors ---------------------------------------------------------------------------


def create_message_collector(channel_id: Any, options: Any = None) -> str:
    """Collect the messages of a channel that pass ``options.filter``; returns its id.

    ``options``: ``{filter: func(message), time: seconds, max: count, include_self}``.
    """
    what = "create_message_collector()"
    channel = str(convert.channel_id_of(channel_id, what=f"{what} channel"))
    return collectors.create(runtime(), "message", channel, options, what).id


def create_reaction_collector(message_id: Any, options: Any = None) -> str:
    """Collect the reactions added to a message that pass ``options.filter``; returns its id.

    ``options``: ``{filter: func(reaction, user), time: seconds, max: count, include_self}``.
    """
    what = "create_reaction_collector()"
    message = collectors.target_message_id(message_id, f"{what} message")
    return collectors.create(runtime(), "reaction", message, options, what).id


def create_interaction_collector(message_id: Any, options: Any = None) -> str:
    """Collect the button and select clicks on a message that pass ``options.filter``.

    ``options``: ``{filter: func(i), time: seconds, max: count}``. Each collected interaction
    still needs its answer within 3 s: ``on_collect(id, func(i) { interaction_update(i, …) })``.
    """
    what = "create_interaction_collector()"
    message = collectors.target_message_id(message_id, f"{what} message")
    return collectors.create(runtime(), "interaction", message, options, what).id


def on_collect(collector_id: Any, handler: Any) -> None:
    """Run ``handler(message)`` / ``handler(reaction, user)`` for everything collected."""
    collectors.add_collect_handler(runtime(), collector_id, handler)


def on_collector_end(collector_id: Any, handler: Any) -> None:
    """Run ``handler(collected, reason)`` when the collector ends (reason: limit, time, user)."""
    collectors.add_end_handler(runtime(), collector_id, handler)


def stop_collector(collector_id: Any) -> None:
    """End a collector now (its end handlers get reason ``"user"``)."""
    rt = runtime()
    collectors.end(rt, collectors.find(rt, collector_id, "stop_collector()"), "user")


async def wait_for_message(filter_fn: Any = None, timeout: Any = None) -> Any:
    """Pause until a message that passes ``filter_fn(message)`` arrives; null after
    ``timeout`` seconds. The bot's own messages are left out."""
    rt = runtime()
    rt.require_client("wait_for_message()")
    return await collectors.wait_for(rt, "message", None, filter_fn, timeout, "wait_for_message()")


async def wait_for_reaction(message: Any = None, filter_fn: Any = None, timeout: Any = None) -> Any:
    """Pause until a reaction is added (to ``message``, if given) that passes
    ``filter_fn(reaction, user)``; null after ``timeout`` seconds."""
    rt = runtime()
    what = "wait_for_reaction()"
    rt.require_client(what)
    target = None if message is None else collectors.target_message_id(message, f"{what} message")
    return await collectors.wait_for(rt, "reaction", target, filter_fn, timeout, what)


def set_intents(names: Any) -> None:
    """The gateway intents to ask for (replaces the defaults); call before ``bot_start``."""
    rt: BotRuntime = runtime()
    if rt.client is not None:
        raise EzError("DiscordError", "set_intents() must be called before bot_start()")
    rt.intents = parse_intents(names)


def get_client() -> ClientView:
    """The read-only client view (``guilds.cache.size``, ``ws.ping``, ``user.tag``, …)."""
    rt = runtime()
    rt.require_client("get_client()")
    assert rt.view is not None
    return rt.view


def get_shard_info() -> dict[str, Any]:
    """``{shard_id, total_shards, guild_count, sharded}`` of this bot."""
    from ezlang.discord import plugin

    rt = runtime()
    client = rt.require_client("get_shard_info()")
    guild_count = len(client._connection._guilds)
    shard_plugin = plugin.current()
    if shard_plugin is not None:
        return {
            "shard_id": shard_plugin.shard_id,
            "total_shards": shard_plugin.shard_count,
            "guild_count": guild_count,
            "sharded": True,
        }
    count = client.shard_count or 1
    if count > 1:  # auto-sharded inside this one process
        return {
            "shard_id": None,
            "total_shards": count,
            "guild_count": guild_count,
            "sharded": True,
        }
    return {"shard_id": None, "total_shards": 1, "guild_count": guild_count, "sharded": False}


BUILTINS: dict[str, Callable[..., Any]] = {
    "bot_start": bot_start,
    "bot_stop": bot_stop,
    "on_ready": on_ready,
    "on_message": on_message,
    "listen": listen,
    "send_message": send_message,
    "reply": reply,
    "react": react,
    "set_status": set_status,
    "set_activity": set_activity,
    "set_intents": set_intents,
    "create_message_collector": create_message_collector,
    "create_reaction_collector": create_reaction_collector,
    "create_interaction_collector": create_interaction_collector,
    "on_collect": on_collect,
    "on_collector_end": on_collector_end,
    "stop_collector": stop_collector,
    "wait_for_message": wait_for_message,
    "wait_for_reaction": wait_for_reaction,
    "get_client": get_client,
    "get_shard_info": get_shard_info,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
