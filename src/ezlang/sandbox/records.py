"""What the webhook, invite and poll routes share: one store per sandbox, Discord's ISO
timestamps, whole numbers read from JSON, and the channel/guild checks of a route."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web

from . import permissions as perms
from .rest import error

if TYPE_CHECKING:
    from .core import Sandbox

T = TypeVar("T")

_STORES: weakref.WeakKeyDictionary[Any, dict[type, Any]] = weakref.WeakKeyDictionary()


def per_sandbox(sb: Any, kind: type[T], make: Callable[[], T]) -> T:
    """The ``kind`` store of ``sb``, made by ``make()`` on first use; it lives as long as
    the sandbox (the sandbox itself knows nothing of it)."""
    stores = _STORES.setdefault(sb, {})
    store = stores.get(kind)
    if store is None:
        store = stores[kind] = make()
    return store  # type: ignore[no-any-return]


def iso_time(ts: float) -> str:
    """A Unix time as Discord writes timestamps (``2024-01-01T00:00:00.000000+00:00``)."""
    ms = int(ts * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{ms:03d}000+00:00"


def whole_number(value: Any) -> int | None:
    """An integer from JSON (``24.0`` counts: discord.py sends poll hours as a float), or None
    for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def channel_allowed(
    sb: Sandbox, request: web.Request, *permission: str, text_only: bool = True
) -> int | web.Response:
    """The route's ``{channel_id}`` if it names a (text) channel where the bot holds View
    Channel and ``permission``; else Discord's 404 10003 or 403 50013."""
    try:
        cid = int(request.match_info["channel_id"])
    except ValueError:
        return error(404, "Unknown Channel", 10003)
    known = sb.world.is_text_channel(cid) if text_only else sb.world.channel(cid) is not None
    if not known:
        return error(404, "Unknown Channel", 10003)
    if not sb.server.bot_may(cid, "view_channel", *permission):
        return error(403, "Missing Permissions", 50013)
    return cid


def guild_allowed(sb: Sandbox, request: web.Request, permission: str) -> int | web.Response:
    """The route's ``{guild_id}`` if the bot holds ``permission`` guild-wide; else Discord's
    404 10004 or 403 50013."""
    try:
        gid = int(request.match_info["guild_id"])
    except ValueError:
        return error(404, "Unknown Guild", 10004)
    if sb.world.guild_index(gid) is None:
        return error(404, "Unknown Guild", 10004)
    if not sb.server.bot_permissions(gid) & perms.FLAGS[permission]:
        return error(403, "Missing Permissions", 50013)
    return gid
