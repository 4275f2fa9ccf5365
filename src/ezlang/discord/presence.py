"""Presence: ``set_status`` / ``set_activity`` arguments as discord.py's status and activity.

The argument order is the older EasyLang's: ``set_status(status, activity?, text?)`` and
``set_activity(name, type?, options?)``.
"""

from __future__ import annotations

from typing import Any

import discord

from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr

STATUSES = {
    "online": discord.Status.online,
    "idle": discord.Status.idle,
    "dnd": discord.Status.dnd,
    "invisible": discord.Status.invisible,
}
ACTIVITY_TYPES = ("playing", "watching", "listening", "competing", "streaming")
DEFAULT_STREAM_URL = "https://www.twitch.tv/discord"


def parse_status(status: Any) -> discord.Status:
    """``online``, ``idle``, ``dnd`` or ``invisible`` as discord.py's Status."""
    if not isinstance(status, str) or status.lower() not in STATUSES:
        raise EzError(
            "ValueError",
            f"set_status() takes one of {', '.join(STATUSES)}, not {to_repr(status)}",
        )
    return STATUSES[status.lower()]


def make_activity(
    text: Any, kind: Any = None, url: Any = None, *, what: str
) -> discord.BaseActivity | None:
    """The activity shown under the bot's name: ``text`` of type ``kind`` (playing …)."""
    if text is None:
        return None
    if kind is None:
        kind = "playing"
    if not isinstance(kind, str) or kind.lower() not in ACTIVITY_TYPES:
        hint = ""
        if isinstance(text, str) and text.lower() in ACTIVITY_TYPES:
            # The order of ezlang before wave 3 (type, text): say the new one.
            hint = (
                f"; the text comes first, then the type: {what}({to_repr(kind)}, {to_repr(text)})"
            )
        raise EzError(
            "ValueError",
            f"{what}() activity type must be one of {', '.join(ACTIVITY_TYPES)}, "
            f"not {to_repr(kind)}{hint}",
        )
    if not isinstance(text, str) or not text:
        raise EzError("TypeError", f"{what}() needs the activity text as a string")
    if url is not None and not isinstance(url, str):
        raise EzError("TypeError", f"{what}() stream url must be a string")
    kind = kind.lower()
    if kind == "playing":
        return discord.Game(name=text)
    elif kind == "streaming":
        return discord.Streaming(name=text, url=url or DEFAULT_STREAM_URL)
    else:
        return discord.Activity(type=getattr(discord.ActivityType, kind), name=text)
