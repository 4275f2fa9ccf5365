"""The audit log, Discord's way: what the bot did in a guild, who it did it to, and why.

Every change the bot makes through REST to members, roles, bans and channel overwrites
records an entry (``{id, user_id, target_id, action_type, changes, reason}``; the reason
is the request's ``X-Audit-Log-Reason`` header, URL-encoded as Discord expects it).
``GET /guilds/{id}/audit-logs`` (:mod:`ezlang.sandbox.audit_api`) reads them.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import unquote

from aiohttp import web

#: Discord's audit log event numbers for what the sandbox records.
GUILD_UPDATE = 1
CHANNEL_OVERWRITE_CREATE = 13
CHANNEL_OVERWRITE_UPDATE = 14
CHANNEL_OVERWRITE_DELETE = 15
MEMBER_KICK = 20
MEMBER_BAN_ADD = 22
MEMBER_BAN_REMOVE = 23
MEMBER_UPDATE = 24
MEMBER_ROLE_UPDATE = 25
ROLE_CREATE = 30
ROLE_UPDATE = 31
ROLE_DELETE = 32

#: Entries kept per guild (Discord keeps 45 days; a sandbox run is shorter).
KEPT = 1000


def reason_of(request: web.Request) -> str | None:
    """The audit-log reason of a request (discord.py URL-encodes the header)."""
    raw = request.headers.get("X-Audit-Log-Reason")
    return None if raw is None else unquote(raw)


def change(key: str, old: Any = None, new: Any = None) -> dict[str, Any]:
    """One audit-log change (Discord omits an absent old or new value)."""
    out: dict[str, Any] = {"key": key}
    if old is not None:
        out["old_value"] = old
    if new is not None:
        out["new_value"] = new
    return out


class AuditLog:
    """Every guild's entries, newest last."""

    def __init__(self, next_id: Any) -> None:
        self._next_id = next_id
        self.entries: dict[int, deque[dict[str, Any]]] = {}

    def record(
        self,
        guild_id: int,
        action_type: int,
        user_id: int,
        target_id: int | None,
        reason: str | None,
        changes: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Add an entry; returns it."""
        entry: dict[str, Any] = {
            "id": str(self._next_id()),
            "user_id": str(user_id),
            "target_id": None if target_id is None else str(target_id),
            "action_type": action_type,
            "changes": changes or [],
            "reason": reason,
        }
        box = self.entries.setdefault(guild_id, deque(maxlen=KEPT))
        box.append(entry)
        return entry
