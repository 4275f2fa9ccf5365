"""Intents: the names a beginner may write for them, the defaults, the privileged ones."""

from __future__ import annotations

from typing import Any

import discord

from ezlang.lang.errors import EzError
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
