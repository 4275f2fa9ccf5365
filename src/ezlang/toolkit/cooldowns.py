"""Command cooldowns: ``add_cooldown``, ``is_on_cooldown``, ``get_cooldown_remaining`` and co.

The older EasyLang's names and argument order: ``add_cooldown(user_id, command_name,
duration_seconds, options?)``. A cooldown belongs to a command and a *scope*, chosen by the
``per`` option:

* ``"user"`` (the default) — this user (``user_id``);
* ``"guild"`` / ``"channel"`` — the server or channel in the ``guild_id`` / ``channel_id``
  option, whoever runs the command;
* ``"global"`` — everyone.

By default cooldowns live in the memory of this process, which is right for an unsharded bot
and for per-user or per-guild cooldowns in a sharded one (a guild's messages all reach the same
shard). ``{shared: true}`` (also spelled ``{once_per_bot: true}``) stores the expiry in the
built-in database (wall-clock time, so every shard and host sees the same cooldown): use it
for global cooldowns and DMs of a sharded bot, and give the same option to every call about
that cooldown. The bulk builtins (``reset_all_cooldowns``, ``clear_all_cooldowns``,
``get_user_cooldowns``, ``get_cooldown_stats``) act on memory, or on the database with
``{shared: true}`` as an extra last argument.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ezlang.lang.asyncbridge import await_
from ezlang.lang.errors import EzError
from ezlang.lang.registry import register
from ezlang.lang.values import type_name

#: Prefix of the database keys of shared cooldowns.
DB_PREFIX = "ezlang:cooldown:"
#: Sweep expired in-memory entries after this many additions (keeps memory bounded).
_SWEEP_EVERY = 1000

_MISSING: Any = object()
_SCOPES = ("user", "guild", "channel", "global")
_OPTIONS = ("per", "guild_id", "channel_id", "shared", "once_per_bot")


@dataclass
class Stats:
    """Counters for ``get_cooldown_stats`` (this process)."""

    added: int = 0
    checks: int = 0
    hits: int = 0


#: key → monotonic expiry, for this process's cooldowns. Keys are ``scope:id:command``.
_local: dict[str, float] = {}
_stats = Stats()
_since_sweep = 0


def _id(fname: str, what: str, value: Any) -> str:
    t = type(value)
    if t is int or (t is str and value):
        # ':' separates the parts of a key; escape it (and the escape) inside an id.
        return str(value).replace("%", "%25").replace(":", "%3A")
    got = "nothing" if value is _MISSING else type_name(value)
    raise EzError("TypeError", f"{fname}() expects a {what} (a string or a number), got {got}")


def _command(fname: str, name: Any) -> str:
    if type(name) is not str or not name:
        got = "nothing" if name is _MISSING else type_name(name)
        raise EzError(
            "TypeError",
            f"{fname}() expects the command name (a string) as its second argument, got {got}",
        )
    return name


def _options(fname: str, options: Any) -> dict[str, Any]:
    if options is _MISSING or options is None:
        return {}
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{fname}() expects an options object, got {type_name(options)}")
    for key in options:
        if key not in _OPTIONS:
            raise EzError(
                "ValueError",
                f"{fname}(): unknown option {key!r}; the options are {', '.join(_OPTIONS)}",
            )
    for key in ("shared", "once_per_bot"):
        if key in options and type(options[key]) is not bool:
            raise EzError(
                "TypeError",
                f"{fname}(): the {key} option must be true or false, got {type_name(options[key])}",
            )
    return options


def _shared(opts: dict[str, Any]) -> bool:
    return bool(opts.get("shared") or opts.get("once_per_bot"))


def _key(fname: str, user_id: Any, command: Any, opts: dict[str, Any]) -> str:
    name = _command(fname, command)
    per = opts.get("per", "user")
    if per not in _SCOPES:
        raise EzError(
            "ValueError",
            f"{fname}(): the per option must be one of {', '.join(map(repr, _SCOPES))}, got {per!r}",
        )
    if per == "user":
        scope = _id(fname, "user id as its first argument", user_id)
    elif per == "global":
        scope = "*"
    else:
        option = f"{per}_id"
        if option not in opts:
            raise EzError(
                "ValueError", f"{fname}(): a cooldown per {per} needs the {option} option"
            )
        scope = _id(fname, f"{option} option", opts[option])
    return f"{per}:{scope}:{name}"


def _split(key: str) -> tuple[str, str, str]:
    per, scope, command = key.split(":", 2)
    return per, scope.replace("%3A", ":").replace("%25", "%"), command


def _remaining_s(expiry: float, now: float) -> float:
    # Milliseconds are all anyone shows; round up so "0" never means "still on cooldown".
    return math.ceil((expiry - now) * 1000) / 1000


# ---- the shared store (the built-in database) ---------------------------------------------------


def _db() -> Any:
    from ezlang.toolkit.db.builtins import _database

    return await_(_database())


def _db_call(fname: str, op: str, *args: Any) -> Any:
    from ezlang.toolkit.db import DatabaseError

    try:
        return await_(getattr(_db(), op)(*args))
    except DatabaseError as exc:
        raise EzError("Error", f"{fname}(): the shared cooldown store failed: {exc}") from None


def _shared_entries(fname: str, prefix: str = "") -> Iterable[tuple[str, float]]:
    """The live shared cooldowns whose key starts with ``prefix``: ``(key, seconds left)``."""
    now = time.time()
    for full in _db_call(fname, "keys", DB_PREFIX + prefix):
        found, expiry = _db_call(fname, "get", full)
        if found and type(expiry) in (int, float) and expiry > now:
            yield full[len(DB_PREFIX) :], _remaining_s(expiry, now)


def _local_entries(prefix: str = "") -> Iterable[tuple[str, float]]:
    now = time.monotonic()
    for key, expiry in list(_local.items()):
        if expiry <= now:
            del _local[key]
        elif key.startswith(prefix):
            yield key, _remaining_s(expiry, now)


def _sweep() -> None:
    now = time.monotonic()
    for key in [k for k, expiry in _local.items() if expiry <= now]:
        del _local[key]


# ---- builtins ----------------------------------------------------------------------------------


def add_cooldown(
    user_id: Any = _MISSING, command_name: Any = _MISSING, duration_seconds: Any = _MISSING,
    options: Any = _MISSING,
) -> None:  # fmt: skip
    """``add_cooldown(user.id, "daily", 3600)``: put the command on cooldown for that long."""
    global _since_sweep
    opts = _options("add_cooldown", options)
    key = _key("add_cooldown", user_id, command_name, opts)
    if type(duration_seconds) not in (int, float) or not math.isfinite(duration_seconds):
        got = "nothing" if duration_seconds is _MISSING else type_name(duration_seconds)
        raise EzError(
            "TypeError",
            f"add_cooldown() expects a number of seconds as its third argument, got {got}",
        )
    if duration_seconds < 0:
        raise EzError("ValueError", "add_cooldown(): the duration cannot be negative")
    _stats.added += 1
    if _shared(opts):
        _db_call("add_cooldown", "set", DB_PREFIX + key, time.time() + duration_seconds)
        return
    _local[key] = time.monotonic() + duration_seconds
    _since_sweep += 1
    if _since_sweep >= _SWEEP_EVERY:
        _since_sweep = 0
        _sweep()


def get_cooldown_remaining(
    user_id: Any = _MISSING, command_name: Any = _MISSING, options: Any = _MISSING
) -> float:
    """``get_cooldown_remaining(user.id, "daily")``: seconds left (0 when not on cooldown)."""
    opts = _options("get_cooldown_remaining", options)
    key = _key("get_cooldown_remaining", user_id, command_name, opts)
    if _shared(opts):
        found, expiry = _db_call("get_cooldown_remaining", "get", DB_PREFIX + key)
        if not found or type(expiry) not in (int, float):
            return 0
        left = _remaining_s(expiry, time.time())
        if left <= 0:
            _db_call("get_cooldown_remaining", "delete", DB_PREFIX + key)
            return 0
        return left
    expiry = _local.get(key)
    if expiry is None:
        return 0
    left = _remaining_s(expiry, time.monotonic())
    if left <= 0:
        del _local[key]
        return 0
    return left


def is_on_cooldown(
    user_id: Any = _MISSING, command_name: Any = _MISSING, options: Any = _MISSING
) -> bool:
    """``is_on_cooldown(user.id, "daily")``: true while the cooldown lasts."""
    _stats.checks += 1
    on = get_cooldown_remaining(user_id, command_name, options) > 0
    if on:
        _stats.hits += 1
    return on


def reset_cooldown(
    user_id: Any = _MISSING, command_name: Any = _MISSING, options: Any = _MISSING
) -> bool:
    """``reset_cooldown(user.id, "daily")``: end the cooldown now; true if there was one."""
    opts = _options("reset_cooldown", options)
    key = _key("reset_cooldown", user_id, command_name, opts)
    active = get_cooldown_remaining(user_id, command_name, options) > 0
    if _shared(opts):
        _db_call("reset_cooldown", "delete", DB_PREFIX + key)
    else:
        _local.pop(key, None)
    return active


def _user_prefix(fname: str, user_id: Any) -> str:
    return f"user:{_id(fname, 'user id as its first argument', user_id)}:"


def reset_all_cooldowns(user_id: Any = _MISSING, options: Any = _MISSING) -> int:
    """``reset_all_cooldowns(user.id)``: end every per-user cooldown of that user; how many."""
    prefix = _user_prefix("reset_all_cooldowns", user_id)
    return _clear("reset_all_cooldowns", prefix, _options("reset_all_cooldowns", options))


def clear_all_cooldowns(options: Any = None) -> int:
    """``clear_all_cooldowns()``: end every cooldown of every scope; how many there were."""
    return _clear("clear_all_cooldowns", "", _options("clear_all_cooldowns", options))


def _clear(fname: str, prefix: str, opts: dict[str, Any]) -> int:
    if _shared(opts):
        entries = list(_shared_entries(fname, prefix))
        for full in _db_call(fname, "keys", DB_PREFIX + prefix):
            _db_call(fname, "delete", full)
        return len(entries)
    entries = list(_local_entries(prefix))
    for key, _left in entries:
        _local.pop(key, None)
    return len(entries)


def get_user_cooldowns(user_id: Any = _MISSING, options: Any = _MISSING) -> dict[str, float]:
    """``get_user_cooldowns(user.id)``: ``{command: seconds left}`` for that user's cooldowns."""
    opts = _options("get_user_cooldowns", options)
    prefix = _user_prefix("get_user_cooldowns", user_id)
    entries = (
        _shared_entries("get_user_cooldowns", prefix) if _shared(opts) else _local_entries(prefix)
    )
    return {_split(key)[2]: left for key, left in sorted(entries)}


def get_cooldown_stats(options: Any = None) -> dict[str, Any]:
    """``get_cooldown_stats()``: ``{active, by_command, by_scope, added, checks, hits}``."""
    opts = _options("get_cooldown_stats", options)
    entries = list(_shared_entries("get_cooldown_stats") if _shared(opts) else _local_entries())
    by_command: dict[str, int] = {}
    by_scope = dict.fromkeys(_SCOPES, 0)
    for key, _left in entries:
        per, _scope, command = _split(key)
        by_command[command] = by_command.get(command, 0) + 1
        by_scope[per] = by_scope.get(per, 0) + 1
    return {
        "active": len(entries),
        "by_command": dict(sorted(by_command.items())),
        "by_scope": by_scope,
        "added": _stats.added,
        "checks": _stats.checks,
        "hits": _stats.hits,
    }


for _fn in (
    add_cooldown, is_on_cooldown, get_cooldown_remaining, reset_cooldown, reset_all_cooldowns,
    clear_all_cooldowns, get_user_cooldowns, get_cooldown_stats,
):  # fmt: skip
    register(_fn.__name__, _fn)
