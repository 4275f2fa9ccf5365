"""Permission names: the one table and parser every Discord builtin uses.

A permission is named the way Discord's documentation names it, in any of the forms bots are
ported from: ``"ban_members"``, discord.js's ``"BanMembers"``, ``"BAN_MEMBERS"`` or the label
of the Discord app (``"Ban Members"``); discord.py's older aliases (``"read_messages"``,
``"manage_permissions"``) are accepted too. What EasyLang returns uses Discord's documented
names in snake_case (``"view_channel"``, ``"use_external_emojis"``); an error message shows the
Discord app's label (``"Manage Server"``). An unknown name is a ValueError that suggests the
closest one.

The bits come from discord.py (``discord.Permissions.VALID_FLAGS``), so a permission discord.py
learns is known here too. Kept apart from :mod:`ezlang.discord.permissions` (the builtins) so
that modules which only parse or show names (roles, channels, commands, refusals) need not
import the runtime.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import discord

from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr

__all__ = ["ALIASES", "NAMES", "bits_of", "label", "names_of", "permission_bit"]

# discord.py's first name for a bit -> the name in Discord's documentation, where they differ.
_DISCORD_NAME = {
    "read_messages": "view_channel",
    "external_emojis": "use_external_emojis",
    "external_stickers": "use_external_stickers",
    "use_voice_activation": "use_vad",
    "manage_expressions": "manage_guild_expressions",
    "create_expressions": "create_guild_expressions",
}
#: Bit value -> Discord's name, in bit order.
NAMES: dict[int, str] = {}
#: Every accepted spelling (normalised to snake_case) -> bit value.
ALIASES: dict[str, int] = {}
for _name, _value in discord.Permissions.VALID_FLAGS.items():
    NAMES.setdefault(_value, _DISCORD_NAME.get(_name, _name))
    ALIASES[_name] = _value
for _value, _name in NAMES.items():
    ALIASES[_name] = _value
# The Discord app's labels where they differ from the API's names.
ALIASES["manage_server"] = ALIASES["manage_guild"]
ALIASES["timeout_members"] = ALIASES["moderate_members"]
NAMES = dict(sorted(NAMES.items()))

# How the Discord app labels a permission, where it is not the name in title case.
_LABELS = {
    "manage_guild": "Manage Server",
    "moderate_members": "Timeout Members",
    "use_vad": "Use Voice Activity",
    "send_tts_messages": "Send Text-to-Speech Messages",
    "create_instant_invite": "Create Invite",
    "view_guild_insights": "View Server Insights",
    "manage_guild_expressions": "Manage Expressions",
    "create_guild_expressions": "Create Expressions",
    "use_embedded_activities": "Use Activities",
    "manage_roles": "Manage Roles",
}

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def label(name: str) -> str:
    """``"ban_members"`` → ``"Ban Members"`` (the words the Discord app shows)."""
    return _LABELS.get(name) or name.replace("_", " ").title()


def permission_bit(value: Any, what: str) -> int:
    """The bit of one permission name in any accepted spelling (ValueError with a suggestion)."""
    if not isinstance(value, str) or not value.strip():
        raise EzError(
            "TypeError",
            f'{what}: a permission is a name such as "ban_members", not {to_repr(value)}',
        )
    text = value.strip()
    if "_" not in text and " " not in text:
        text = _CAMEL.sub("_", text)  # BanMembers, SendTTSMessages, UseVAD
    key = re.sub(r"[\s-]+", "_", text).lower()
    bit = ALIASES.get(key)
    if bit is None:
        close = difflib.get_close_matches(key, list(ALIASES), n=1, cutoff=0.6)
        hint = f' (did you mean "{NAMES[ALIASES[close[0]]]}"?)' if close else ""
        raise EzError(
            "ValueError",
            f"{what}: unknown permission {to_repr(value)}{hint}; permissions are named like "
            '"send_messages", "BanMembers" or "MANAGE_ROLES"',
        )
    return bit


def bits_of(value: Any, what: str) -> int:
    """Permission bits from a bitfield (string or number), a name, or an array of them."""
    if isinstance(value, list):
        bits = 0
        for item in value:
            bits |= bits_of(item, what)
        return bits
    given = value  # for the message: 1e300 reads as itself, not as its 301 digits
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, str):
        return permission_bit(value, what)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        if value >= 1 << 64:  # Discord's bitfields are 64-bit; more bits name no permission
            raise EzError(
                "ValueError",
                f"{what}: {to_repr(given)} is not a permission bitfield (at most 64 bits); "
                'use names such as ["send_messages", "ban_members"]',
            )
        return value
    raise EzError(
        "TypeError",
        f"{what}: permissions are a name, an array of names or a bitfield string, "
        f"not {to_repr(value)}",
    )


def names_of(bits: int) -> list[str]:
    """The names of the set bits, in Discord's bit order."""
    return [name for value, name in NAMES.items() if bits & value]
