"""Intents: the names a beginner may write for them, the defaults, the privileged ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

# Reactions are in the defaults for reaction collectors and wait_for_reaction (not privileged).
DEFAULT_INTENTS = (
    "guilds",
    "guild_messages",
    "dm_messages",
    "message_content",
    "guild_reactions",
    "dm_reactions",
)

# Spellings a beginner may use (ours, discord.py's, discord.js's GatewayIntentBits), normalised
# by lowercasing and dropping "_", "-" and spaces → discord.py's Intents flag.
_INTENT_ALIASES = {
    "guilds": "guilds",
    "members": "members",
    "guildmembers": "members",
    "moderation": "moderation",
    "guildmoderation": "moderation",
    "bans": "moderation",
    "guildbans": "moderation",
    "emojis": "emojis_and_stickers",
    "emojisandstickers": "emojis_and_stickers",
    "guildemojisandstickers": "emojis_and_stickers",
    "guildexpressions": "emojis_and_stickers",
    "expressions": "emojis_and_stickers",
    "integrations": "integrations",
    "guildintegrations": "integrations",
    "webhooks": "webhooks",
    "guildwebhooks": "webhooks",
    "invites": "invites",
    "guildinvites": "invites",
    "voicestates": "voice_states",
    "guildvoicestates": "voice_states",
    "presences": "presences",
    "guildpresences": "presences",
    "messages": "messages",
    "guildmessages": "guild_messages",
    "dmmessages": "dm_messages",
    "directmessages": "dm_messages",
    "dms": "dm_messages",
    "reactions": "reactions",
    "guildreactions": "guild_reactions",
    "guildmessagereactions": "guild_reactions",
    "dmreactions": "dm_reactions",
    "directmessagereactions": "dm_reactions",
    "typing": "typing",
    "guildtyping": "guild_typing",
    "guildmessagetyping": "guild_typing",
    "dmtyping": "dm_typing",
    "directmessagetyping": "dm_typing",
    "messagecontent": "message_content",
    "scheduledevents": "guild_scheduled_events",
    "guildscheduledevents": "guild_scheduled_events",
    "automoderation": "auto_moderation",
    "automod": "auto_moderation",
    "polls": "polls",
    "guildpolls": "guild_polls",
    "guildmessagepolls": "guild_polls",
    "dmpolls": "dm_polls",
    "directmessagepolls": "dm_polls",
}
# Privileged intents and their switch in the developer portal (Bot → Privileged Gateway Intents).
PRIVILEGED_INTENTS = {
    "members": "SERVER MEMBERS INTENT",
    "presences": "PRESENCE INTENT",
    "message_content": "MESSAGE CONTENT INTENT",
}


def parse_intents(names: Any) -> discord.Intents:
    """``set_intents([...])``: the full set of intents to ask for, replacing the defaults."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list):
        raise EzError(
            "TypeError",
            "set_intents() takes an array of intent names, e.g. "
            '["guilds", "guild_messages", "message_content"]',
        )
    intents = discord.Intents.none()
    for name in names:
        if not isinstance(name, str):
            raise EzError("TypeError", f"intent names are strings, not {to_repr(name)}")
        key = name.lower().replace("_", "").replace("-", "").replace(" ", "")
        if key == "default":
            for flag in DEFAULT_INTENTS:
                setattr(intents, flag, True)
            continue
        if key == "all":
            intents = intents | discord.Intents.all()
            continue
        alias = _INTENT_ALIASES.get(key)
        if alias is None:
            alias = _canonical().get(key)
        if alias is None:
            known = ", ".join(
                sorted(
                    {
                        *DEFAULT_INTENTS,
                        "members",
                        "presences",
                        "reactions",
                        "typing",
                        "voice_states",
                        "default",
                        "all",
                    }
                )
            )
            raise EzError(
                "ValueError", f"unknown intent {to_repr(name)}; known intents include {known}"
            )
        setattr(intents, alias, True)
    return intents


def default_intents() -> discord.Intents:
    """Guilds, guild messages, direct messages and message content (what a command bot needs)."""
    return parse_intents(list(DEFAULT_INTENTS))


def privileged_of(intents: discord.Intents) -> list[str]:
    """The privileged intents in ``intents``, by name."""
    return [name for name in PRIVILEGED_INTENTS if getattr(intents, name)]


def _canonical() -> dict[str, str]:
    """discord.py's own flag names, normalised like the aliases (``"autoModerationExecution"``)."""
    return {n.replace("_", ""): n for n, _ in discord.Intents.all()}


def intent_names(intents: discord.Intents) -> list[str]:
    """The intents that are on, by their discord.py names (``["guilds", "guild_messages"]``)."""
    return [name for name, on in intents if on]


# ---- the older EasyLang's intent builtins ----------------------------------------------------
# Intents are final when bot_start() runs (Discord fixes them at IDENTIFY): changing them after
# that is an error that says so.


def _runtime_before_start(what: str) -> Any:
    from ezlang.discord.runtime import runtime

    rt = runtime()
    if rt.client is not None:
        raise EzError(
            "DiscordError",
            f"{what} must be called before bot_start(): Discord fixes a bot's intents when it "
            "connects, so change them above the bot_start() line",
        )
    return rt


def _one(intent: Any, what: str) -> discord.Intents:
    if not isinstance(intent, str):
        raise EzError("TypeError", f"{what} takes an intent name string, not {to_repr(intent)}")
    return parse_intents([intent])


def add_intent(intent: Any) -> None:
    """Ask for one more intent (``add_intent("members")``); before bot_start."""
    rt = _runtime_before_start("add_intent()")
    rt.intents = rt.intents | _one(intent, "add_intent()")


def remove_intent(intent: Any) -> None:
    """Stop asking for an intent (``remove_intent("message_content")``); before bot_start."""
    rt = _runtime_before_start("remove_intent()")
    rt.intents = discord.Intents._from_value(
        rt.intents.value & ~_one(intent, "remove_intent()").value
    )


def configure_intents(intents_array: Any) -> None:
    """The whole set of intents (replaces the current ones), like ``set_intents``."""
    rt = _runtime_before_start("configure_intents()")
    rt.intents = parse_intents(intents_array)


def configure_all_intents() -> None:
    """Every intent, privileged ones included (each needs its switch in the developer portal)."""
    rt = _runtime_before_start("configure_all_intents()")
    rt.intents = discord.Intents.all()


def reset_intents() -> None:
    """Back to the defaults (``DEFAULT_INTENTS``)."""
    rt = _runtime_before_start("reset_intents()")
    rt.intents = default_intents()


def get_intents() -> list[str]:
    """The intents the bot asks for, by name."""
    from ezlang.discord.runtime import runtime

    return intent_names(runtime().intents)


def has_intent(intent: Any) -> bool:
    """Whether the bot asks for ``intent`` (any spelling ``set_intents`` takes)."""
    from ezlang.discord.runtime import runtime

    wanted = _one(intent, "has_intent()").value
    return runtime().intents.value & wanted == wanted


def list_all_intents() -> list[dict[str, Any]]:
    """Every intent Discord has: ``[{name, privileged, enabled}]``."""
    from ezlang.discord.runtime import runtime

    current = runtime().intents
    return [
        {"name": name, "privileged": name in PRIVILEGED_INTENTS, "enabled": getattr(current, name)}
        for name, _ in discord.Intents.all()
    ]


BUILTINS: dict[str, Callable[..., Any]] = {
    "add_intent": add_intent,
    "remove_intent": remove_intent,
    "configure_intents": configure_intents,
    "configure_all_intents": configure_all_intents,
    "reset_intents": reset_intents,
    "get_intents": get_intents,
    "has_intent": has_intent,
    "list_all_intents": list_all_intents,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
