"""EasyLang builtins for the audit log (``AUDIT_LOG_BUILTINS``): who did what in a server.

``fetch_audit_logs(guild, options?)`` and ``get_audit_log_entry(guild, entry_id)`` are the
older EasyLang's; ``get_audit_logs_filtered(guild, filters)`` is its moderation group's name
for the same call. Action names may be written as Discord's (``"member_kick"``), discord.js's
(``"MemberKick"``) or discord.py's (``"kick"``); entries show Discord's name. Reading the log
needs View Audit Log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.channels import check_options
from ezlang.discord.members import guild_id_of
from ezlang.discord.refusals import refusal
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS"]

# Where Discord's event name differs from discord.py's.
_DISCORD_NAMES = {
    "kick": "member_kick",
    "ban": "member_ban_add",
    "unban": "member_ban_remove",
    "overwrite_create": "channel_overwrite_create",
    "overwrite_update": "channel_overwrite_update",
    "overwrite_delete": "channel_overwrite_delete",
}
#: Action number by Discord's name.
ACTIONS: dict[str, int] = {
    _DISCORD_NAMES.get(a.name, a.name): a.value for a in discord.AuditLogAction
}
_NAMES = {v: k for k, v in ACTIONS.items()}
# Every spelling, normalised (lower case, no "_"): member_kick, MemberKick, kick.
_LOOKUP = {k.replace("_", ""): v for k, v in ACTIONS.items()} | {
    a.name.replace("_", ""): a.value for a in discord.AuditLogAction
}


class AuditLogEntryObject(convert.DiscordObject):
    what = "an audit log entry"


def _action(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value in _NAMES:
        return value
    if isinstance(value, str):
        found = _LOOKUP.get(value.lower().replace("_", "").replace(" ", ""))
        if found is not None:
            return found
    raise EzError(
        "ValueError",
        f'{what}: {to_repr(value)} is not an audit log action; e.g. "member_kick", '
        '"member_ban_add", "member_update", "member_role_update", "role_create"',
    )


def _entry(data: dict[str, Any]) -> dict[str, Any]:
    created = discord.utils.snowflake_time(int(data["id"]))
    return AuditLogEntryObject(
        id=str(data["id"]),
        action=_NAMES.get(data["action_type"], str(data["action_type"])),
        action_type=data["action_type"],
        user_id=data.get("user_id"),
        target_id=data.get("target_id"),
        reason=data.get("reason"),
        changes=[
            {"key": c["key"], "old": c.get("old_value"), "new": c.get("new_value")}
            for c in data.get("changes") or ()
        ],
        created_at=created.astimezone(dt.UTC).isoformat(),
    )


async def _fetch(what: str, guild: Any, options: Any) -> list[dict[str, Any]]:
    client = runtime().require_client(what)
    gid = guild_id_of(guild, what)
    options = check_options(options, ("limit", "user", "action", "before", "after"), what)
    limit = options.get("limit", 50)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise EzError("ValueError", f"{what} limit must be a whole number from 1 to 100")

    def snowflake(key: str) -> int | None:
        value = options.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        return None if value is None else convert.snowflake_arg(value, what=f"{what} {key}")

    action = None if options.get("action") is None else _action(options["action"], what)
    try:
        data = await client.http.get_audit_logs(
            gid,
            limit=limit,
            before=snowflake("before"),
            after=snowflake("after"),
            user_id=snowflake("user"),
            action_type=action,  # type: ignore[arg-type]
        )
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("view_audit_log",)) from None
    return [_entry(dict(e)) for e in data.get("audit_log_entries", [])]


async def fetch_audit_logs(guild: Any, options: Any = None) -> list[dict[str, Any]]:
    """The newest audit log entries (``options``: ``{limit (1–100, default 50), user,
    action, before, after}``), newest first. Needs View Audit Log."""
    return await _fetch("fetch_audit_logs()", guild, options)


async def get_audit_logs_filtered(guild: Any, filters: Any = None) -> list[dict[str, Any]]:
    """``fetch_audit_logs`` under the older moderation group's name."""
    return await _fetch("get_audit_logs_filtered()", guild, filters)


async def get_audit_log_entry(guild: Any, entry_id: Any) -> dict[str, Any] | None:
    """One entry by id, or null if the log has no such entry."""
    what = "get_audit_log_entry()"
    eid = convert.snowflake_arg(entry_id, what=f"{what} entry id")
    # Discord has no route for one entry: the newest one before id + 1 is it, if it exists.
    found = await _fetch(what, guild, {"before": str(eid + 1), "limit": 1})
    return found[0] if found and found[0]["id"] == str(eid) else None


BUILTINS: dict[str, Callable[..., Any]] = {
    "fetch_audit_logs": fetch_audit_logs,
    "get_audit_logs_filtered": get_audit_logs_filtered,
    "get_audit_log_entry": get_audit_log_entry,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
