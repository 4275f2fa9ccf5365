"""EasyLang builtins for moderation (``MODERATION_BUILTINS``): kick, ban, unban, bans,
timeouts and bulk bans.

Names and argument order are the older EasyLang's (``kick_member(member, reason)``,
``ban_member(member, reason, deleteMessageDays)``, ``unban_user(guild, userId, reason?)``,
``timeout_member(member, duration, reason)`` with the duration in milliseconds as in
discord.js). Discord's limits are checked before anything is sent (a timeout of at most 28
days, 0–7 days of messages deleted on a ban, at most 200 users in a bulk ban), so the error
points at the EasyLang line; Discord's refusals become DiscordErrors that say what to fix
(:mod:`ezlang.discord.refusals`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.members import guild_id_of, member_from_payload, member_ids, reason_arg
from ezlang.discord.messages import _user_from_payload
from ezlang.discord.refusals import refusal
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS"]

MAX_TIMEOUT_MS = 28 * 24 * 3600 * 1000  # Discord: a timeout ends at most 28 days ahead
MAX_DELETE_DAYS = 7
BULK_BAN_MAX = 200


class BanObject(convert.DiscordObject):
    what = "a ban"


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _user_id(user: Any, what: str) -> int:
    if isinstance(user, dict):
        user = user.get("user_id", user.get("id"))
    return convert.snowflake_arg(user, what=f"{what} user id")


def _delete_seconds(days: Any, what: str) -> int:
    if days is None:
        return 0
    if isinstance(days, bool) or not isinstance(days, int | float):
        raise EzError(
            "TypeError", f"{what} deleteMessageDays must be a number of days, not {to_repr(days)}"
        )
    if not 0 <= days <= MAX_DELETE_DAYS:
        raise EzError(
            "ValueError",
            f"{what} can delete 0 to {MAX_DELETE_DAYS} days of messages (Discord's limit), "
            f"not {days}",
        )
    return int(days * 86400)


def _ban(data: dict[str, Any]) -> dict[str, Any]:
    return BanObject(user=_user_from_payload(dict(data["user"])), reason=data.get("reason"))


async def kick_member(member: Any, reason: Any = None) -> None:
    """Remove a member from the server (they can join again). Needs Kick Members and a
    highest role above theirs; nobody kicks the owner."""
    what = "kick_member()"
    client = _client(what)
    gid, uid = member_ids(member, what)
    try:
        await client.http.kick(uid, gid, reason=reason_arg(reason, what))
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("kick_members",), member_id=uid) from None


async def ban_member(member: Any, reason: Any = None, delete_message_days: Any = None) -> None:
    """Ban a member (or a user: ``ban_member({id, guild_id})``), deleting their messages of
    the last ``deleteMessageDays`` (0–7). Needs Ban Members and a highest role above theirs."""
    what = "ban_member()"
    client = _client(what)
    gid, uid = member_ids(member, what)
    seconds = _delete_seconds(delete_message_days, what)
    try:
        await client.http.ban(uid, gid, seconds, reason=reason_arg(reason, what))
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("ban_members",), member_id=uid) from None


async def unban_user(guild: Any, user_id: Any, reason: Any = None) -> None:
    """Lift a ban (needs Ban Members); a DiscordError 10026 if the user is not banned."""
    what = "unban_user()"
    client = _client(what)
    gid = guild_id_of(guild, what)
    uid = _user_id(user_id, what)
    try:
        await client.http.unban(uid, gid, reason=reason_arg(reason, what))
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("ban_members",)) from None


async def fetch_bans(guild: Any) -> list[dict[str, Any]]:
    """The server's bans (up to 1000), each ``{user, reason}``. Needs Ban Members."""
    what = "fetch_bans()"
    client = _client(what)
    gid = guild_id_of(guild, what)
    try:
        data = await client.http.get_bans(gid, 1000)
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("ban_members",)) from None
    return [_ban(dict(b)) for b in data]


async def fetch_ban(guild: Any, user_id: Any) -> dict[str, Any]:
    """One ban ``{user, reason}``; a DiscordError 10026 if the user is not banned."""
    what = "fetch_ban()"
    client = _client(what)
    gid = guild_id_of(guild, what)
    uid = _user_id(user_id, what)
    try:
        data = await client.http.get_ban(uid, gid)
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("ban_members",)) from None
    return _ban(dict(data))


async def _timeout(what: str, member: Any, until: str | None, reason: Any) -> dict[str, Any]:
    client = _client(what)
    gid, uid = member_ids(member, what)
    try:
        data = await client.http.edit_member(
            gid, uid, reason=reason_arg(reason, what), communication_disabled_until=until
        )
    except discord.HTTPException as exc:
        raise await refusal(
            what, exc, client, gid, ("moderate_members",), member_id=uid, timeout=True
        ) from None
    return member_from_payload(dict(data), gid)


async def timeout_member(member: Any, duration: Any, reason: Any = None) -> dict[str, Any]:
    """Time a member out for ``duration`` milliseconds (at most 28 days): they can read but
    not post, react or talk. Needs Moderate Members; administrators can not be timed out.
    Returns the member (``timed_out_until`` set)."""
    what = "timeout_member()"
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0:
        raise EzError(
            "TypeError",
            f"{what} needs a duration in milliseconds (e.g. 60000 for a minute), not "
            f"{to_repr(duration)}",
        )
    if duration > MAX_TIMEOUT_MS:
        raise EzError(
            "ValueError",
            f"{what}: a timeout lasts at most 28 days ({MAX_TIMEOUT_MS} ms, Discord's limit); "
            f"{to_repr(duration)} ms is {duration / 86_400_000:.1f} days (the duration is in "
            "milliseconds)",
        )
    until = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=duration)
    return await _timeout(what, member, until.isoformat(), reason)


async def remove_timeout(member: Any, reason: Any = None) -> dict[str, Any]:
    """End a member's timeout now. Returns the member."""
    return await _timeout("remove_timeout()", member, None, reason)


async def bulk_ban_members(guild: Any, user_ids: Any, options: Any = None) -> dict[str, Any]:
    """Ban up to 200 users at once (ids or user/member objects); ``options``:
    ``{reason, deleteMessageDays}``. Needs Ban Members and Manage Server. Returns
    ``{banned_users, failed_users}`` (ids); a DiscordError 500000 if nobody could be banned."""
    what = "bulk_ban_members()"
    client = _client(what)
    gid = guild_id_of(guild, what)
    if not isinstance(user_ids, list) or not user_ids:
        raise EzError(
            "TypeError",
            f"{what} needs an array of user ids (1 to {BULK_BAN_MAX}), not {to_repr(user_ids)}",
        )
    if len(user_ids) > BULK_BAN_MAX:
        raise EzError(
            "ValueError",
            f"{what} bans at most {BULK_BAN_MAX} users at a time (Discord's limit), got "
            f"{len(user_ids)}; split the array",
        )
    ids = [_user_id(u, what) for u in user_ids]
    if options is not None and not isinstance(options, dict):
        raise EzError("TypeError", f"{what} options must be an object, not {to_repr(options)}")
    opts = options or {}
    days = opts.get("deleteMessageDays", opts.get("delete_message_days"))
    try:
        data = await client.http.bulk_ban(
            gid,
            ids,  # type: ignore[arg-type]
            _delete_seconds(days, what),
            reason=reason_arg(opts.get("reason"), what),
        )
    except discord.HTTPException as exc:
        raise await refusal(what, exc, client, gid, ("ban_members", "manage_guild")) from None
    return convert.DiscordObject(
        banned_users=[str(u) for u in data.get("banned_users") or []],
        failed_users=[str(u) for u in data.get("failed_users") or []],
    )


BUILTINS: dict[str, Callable[..., Any]] = {
    "kick_member": kick_member,
    "ban_member": ban_member,
    "unban_user": unban_user,
    "unban_member": unban_user,
    "fetch_bans": fetch_bans,
    "get_bans": fetch_bans,
    "fetch_ban": fetch_ban,
    "get_ban": fetch_ban,
    "timeout_member": timeout_member,
    "remove_timeout": remove_timeout,
    "bulk_ban_members": bulk_ban_members,
}

for _name, _fn in BUILTINS.items():
    register(_name, _fn)
