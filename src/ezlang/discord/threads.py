"""EasyLang builtins for threads (``THREAD_BUILTINS``): start, join, leave, archive, lock and
manage their members, with the older EasyLang's names and argument order.

A thread is a channel: ``send_message(thread, …)`` posts in it. Each builtin takes a thread
object (what ``create_thread`` returns, or a ``threadCreate`` event's) or a thread id, and
returns the thread as it is afterwards. Discord's rules show up as DiscordErrors that say
what to fix: locking or unlocking, and unarchiving a locked thread, need Manage Threads; an
archived thread takes no new members (50083); a message starts at most one thread (160004).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import discord

from ezlang.discord import convert
from ezlang.discord.builtins import _message_ids
from ezlang.discord.channels import check_options, refusal, target_id
from ezlang.discord.runtime import runtime
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import to_repr

__all__ = ["BUILTINS"]

ARCHIVE_MINUTES = (60, 1440, 4320, 10080)
_THREAD_TYPES = {"public": 11, "private": 12}


def _client(what: str) -> discord.Client:
    return runtime().require_client(what)


def _thread_options(options: Any, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
    opts = check_options(options, allowed, what)
    duration = opts.get("auto_archive_duration", 1440)
    if duration not in ARCHIVE_MINUTES or isinstance(duration, bool):
        raise EzError(
            "ValueError",
            f"{what} auto_archive_duration must be 60, 1440, 4320 or 10080 minutes "
            f"(1 hour, 1 day, 3 days, 1 week), not {to_repr(duration)}",
        )
    slow = opts.get("slowmode")
    if slow is not None and (
        isinstance(slow, bool) or not isinstance(slow, int | float) or not 0 <= slow <= 21600
    ):
        raise EzError(
            "ValueError", f"{what} slowmode must be 0 to 21600 seconds, not {to_repr(slow)}"
        )
    return {
        "auto_archive_duration": int(duration),
        "rate_limit_per_user": None if slow is None else int(slow),
        "reason": None if opts.get("reason") is None else str(opts["reason"]),
        **{k: opts[k] for k in ("type", "invitable") if k in opts},
    }


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 100:
        raise EzError(
            "TypeError" if not isinstance(value, str) else "ValueError",
            f"{what} needs a thread name of 1 to 100 characters, not {to_repr(value)}",
        )
    return value.strip()


async def create_thread(channel: Any, name: Any, options: Any = None) -> Any:
    """Start a thread in a text channel; returns the thread object.

    ``options``: ``type`` (``"public"``, the default, or ``"private"``),
    ``auto_archive_duration`` (minutes: 60, 1440, 4320, 10080), ``invitable`` (private
    threads: may members invite others), ``slowmode`` (seconds), ``reason``.
    """
    what = "create_thread()"
    client = _client(what)
    cid = convert.channel_id_of(channel, what=f"{what} channel")
    title = _name(name, what)
    opts = _thread_options(
        options, ("type", "auto_archive_duration", "invitable", "slowmode", "reason"), what
    )
    kind = opts.pop("type", "public")
    if kind not in _THREAD_TYPES:
        raise EzError(
            "ValueError", f'{what} type must be "public" or "private", not {to_repr(kind)}'
        )
    invitable = bool(opts.pop("invitable", True))
    needed = "Create Private Threads" if kind == "private" else "Create Public Threads"
    try:
        data = await client.http.start_thread_without_message(
            cid,
            name=title,
            type=_THREAD_TYPES[kind],  # type: ignore[arg-type]
            invitable=invitable,
            **opts,
        )
    except discord.HTTPException as exc:
        raise refusal(what, exc, needed) from None
    return convert.channel_from_payload(dict(data))


async def create_thread_from_message(message: Any, name: Any, options: Any = None) -> Any:
    """Start a public thread from a message (the thread gets the message's id); returns the
    thread object. ``options``: ``auto_archive_duration``, ``slowmode``, ``reason``."""
    what = "create_thread_from_message()"
    client = _client(what)
    message_id, channel_id, _ = _message_ids(message, what)
    title = _name(name, what)
    opts = _thread_options(options, ("auto_archive_duration", "slowmode", "reason"), what)
    try:
        data = await client.http.start_thread_with_message(
            channel_id,
            message_id,
            name=title,
            **opts,  # type: ignore[arg-type]
        )
    except discord.HTTPException as exc:
        raise refusal(what, exc, "Create Public Threads") from None
    return convert.channel_from_payload(dict(data))


async def _edit(thread: Any, what: str, permission: str, **fields: Any) -> Any:
    client = _client(what)
    tid = convert.channel_id_of(thread, what=f"{what} thread")
    try:
        data = await client.http.edit_channel(tid, **fields)
    except discord.HTTPException as exc:
        raise refusal(what, exc, permission) from None
    edited = convert.channel_from_payload(dict(data))
    if not isinstance(edited, convert.ThreadObject):
        # Discord ignores thread fields on a channel: say so rather than do nothing.
        raise EzError(
            "TypeError",
            f"{what} needs a thread (from create_thread() or a message in a thread), "
            f"not the {edited['type']} channel #{edited['name']}",
        )
    return edited


async def archive_thread(thread: Any) -> Any:
    """Archive a thread (its creator may; others need Manage Threads)."""
    return await _edit(thread, "archive_thread()", "Manage Threads", archived=True)


async def unarchive_thread(thread: Any) -> Any:
    """Unarchive a thread (a locked one needs Manage Threads)."""
    return await _edit(thread, "unarchive_thread()", "Manage Threads", archived=False)


async def lock_thread(thread: Any) -> Any:
    """Lock a thread: only members with Manage Threads can post in it or unarchive it (needs
    Manage Threads)."""
    return await _edit(thread, "lock_thread()", "Manage Threads", locked=True)


async def unlock_thread(thread: Any) -> Any:
    """Unlock a locked thread (needs Manage Threads; an archived one is unarchived too)."""
    return await _edit(thread, "unlock_thread()", "Manage Threads", locked=False, archived=False)


async def _members_call(thread: Any, member: Any, what: str, permission: str, call: str) -> None:
    client = _client(what)
    tid = convert.channel_id_of(thread, what=f"{what} thread")
    try:
        if member is None:
            await getattr(client.http, call)(tid)
        else:
            uid = target_id(member, f"{what} member")
            await getattr(client.http, call)(tid, uid)
    except discord.HTTPException as exc:
        raise refusal(what, exc, permission) from None


async def join_thread(thread: Any) -> None:
    """The bot joins a thread (not an archived one)."""
    await _members_call(thread, None, "join_thread()", "View Channel", "join_thread")


async def leave_thread(thread: Any) -> None:
    """The bot leaves a thread (not an archived one)."""
    await _members_call(thread, None, "leave_thread()", "View Channel", "leave_thread")


async def add_thread_member(thread: Any, member: Any) -> None:
    """Add a server member to a thread (needs Send Messages in Threads)."""
    await _members_call(
        thread,
        member,
        "add_thread_member()",
        "Send Messages in Threads (and, for a private thread made with invitable: false, "
        "Manage Threads)",
        "add_user_to_thread",
    )


async def remove_thread_member(thread: Any, member: Any) -> None:
    """Remove a member from a thread (needs Manage Threads, unless the bot created this
    private thread)."""
    await _members_call(
        thread, member, "remove_thread_member()", "Manage Threads", "remove_user_from_thread"
    )


async def get_thread_members(thread: Any) -> list[Any]:
    """The members of a thread, ``[{id, thread_id, joined_at}]`` (``id`` is the user's)."""
    what = "get_thread_members()"
    client = _client(what)
    tid = convert.channel_id_of(thread, what=f"{what} thread")
    try:
        data = await client.http.get_thread_members(tid)
    except discord.HTTPException as exc:
        if exc.code == 50001 and exc.status == 403:
            raise EzError(
                "DiscordError",
                f"{what} failed: 403 Missing Access (error code 50001): listing thread members "
                "needs the Server Members privileged intent switched on for the bot in the "
                "developer portal (and the thread must be visible to the bot)",
            ) from None
        raise refusal(what, exc, "View Channel") from None
    return [convert.thread_member(dict(m)) for m in data]


BUILTINS: dict[str, Callable[..., Any]] = {
    "create_thread": create_thread,
    "create_thread_from_message": create_thread_from_message,
    "join_thread": join_thread,
    "leave_thread": leave_thread,
    "archive_thread": archive_thread,
    "unarchive_thread": unarchive_thread,
    "lock_thread": lock_thread,
    "unlock_thread": unlock_thread,
    "add_thread_member": add_thread_member,
    "remove_thread_member": remove_thread_member,
    "get_thread_members": get_thread_members,
}

for _name_, _fn in BUILTINS.items():
    register(_name_, _fn)
