"""Message, reaction and interaction collectors, and ``wait_for_message`` / ``wait_for_reaction``.

A collector gathers the messages of one channel (or the reactions to one message, or the
button and select interactions on one message) that pass
its filter, until it has ``max`` of them, its ``time`` runs out or ``stop_collector`` is
called; then its end handlers get ``(collected, reason)`` with reason ``"limit"``,
``"time"`` or ``"user"`` (``"shutdown"`` when the bot stops). The names and argument order
are the older EasyLang's: ``create_message_collector(channel_id, options)``,
``create_reaction_collector(message_id, options)``,
``create_interaction_collector(message_id, options)``, ``on_collect(collector_id, handler)``,
``on_collector_end(collector_id, handler)``, ``stop_collector(collector_id)``.

Like ``on_message``, collectors do not see the bot's own messages and reactions unless the
options say ``include_self: true``.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ezlang.discord import convert
from ezlang.lang.asyncbridge import call_async
from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr, truthy

if TYPE_CHECKING:
    from ezlang.discord.handlers import Handler
    from ezlang.discord.runtime import BotRuntime

#: Ended collectors remembered so that a late ``on_collector_end`` still gets the result.
ENDED_REMEMBERED = 200

_OPTIONS = ("filter", "time", "timeout", "max", "include_self")
_ids = itertools.count(1)


@dataclass(eq=False)
class Collector:
    """One collector: what it watches, its limits, what it has collected so far."""

    id: str
    kind: str  # "message", "reaction" or "interaction"
    target: str | None  # channel id (message) or message id (reaction, interaction); None: any
    filter: Handler | None
    max: int | None
    include_self: bool
    collected: list[Any] = field(default_factory=list)
    on_collect: list[Handler] = field(default_factory=list)
    on_end: list[Handler] = field(default_factory=list)
    ended: bool = False
    reason: str | None = None
    timer: asyncio.TimerHandle | None = None
    done: asyncio.Future[None] | None = None


def _handler(fn: Any, what: str) -> Handler:
    from ezlang.discord.handlers import Handler, _arity

    if not callable(fn):
        raise EzError("TypeError", f"{what} must be a function, not {to_repr(fn)}")
    return Handler(fn, _arity(fn))


def _seconds(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise EzError(
            "ValueError", f"{what} must be a number of seconds above 0, not {to_repr(value)}"
        )
    return float(value)


def create(rt: BotRuntime, kind: str, target: str | None, options: Any, what: str) -> Collector:
    """Make and start a collector from the EasyLang ``options`` object."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise EzError("TypeError", f"{what} options must be an object, not {to_repr(options)}")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise EzError(
            "ValueError",
            f"{what}: unknown option(s) {', '.join(unknown)}; the options are "
            "filter, time (seconds), max and include_self",
        )
    flt = options.get("filter")
    limit = options.get("max")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 1 or limit % 1
    ):
        raise EzError(
            "ValueError", f"{what}: max must be a whole number above 0, not {to_repr(limit)}"
        )
    seconds = _seconds(options.get("time", options.get("timeout")), f"{what}: time")
    collector = Collector(
        id=f"collector_{next(_ids)}",
        kind=kind,
        target=target,
        filter=None if flt is None else _handler(flt, f"{what}: filter"),
        max=None if limit is None else int(limit),
        include_self=bool(options.get("include_self")),
    )
    rt.collectors[collector.id] = collector
    if seconds is not None:
        loop = asyncio.get_running_loop()
        collector.timer = loop.call_later(seconds, end, rt, collector, "time")
    return collector


def find(rt: BotRuntime, collector_id: Any, what: str) -> Collector:
    """The collector an id (or the object a create_*_collector returned) names."""
    if isinstance(collector_id, dict):
        collector_id = collector_id.get("id")
    found = rt.collectors.get(collector_id) if isinstance(collector_id, str) else None
    if found is None and isinstance(collector_id, str):
        found = rt.ended_collectors.get(collector_id)
    if found is None:
        raise EzError(
            "ValueError",
            f"{what}: no collector {to_repr(collector_id)}; pass the id that "
            "create_message_collector(), create_reaction_collector() or "
            "create_interaction_collector() returned",
        )
    return found


def _args(item: Any, kind: str) -> tuple[Any, ...]:
    # A reaction's handlers get (reaction, user), as discord.js's do; a message's (message).
    return (item, item["user"]) if kind == "reaction" else (item,)


def _call_args(handler: Handler, args: tuple[Any, ...]) -> tuple[Any, ...]:
    n = handler.nargs
    return args if n is None or n >= len(args) else args[:n]


def _key(kind: str, item: dict[str, Any]) -> str | None:
    if kind == "message":
        return item["channel_id"]
    if kind == "reaction":
        return item["message_id"]
    message = item.get("message")  # an interaction: the message its component is on
    return message["id"] if message else None


def offer(rt: BotRuntime, kind: str, item: dict[str, Any], own: bool) -> bool:
    """A new message, reaction or component interaction: hand it to every collector that
    watches for it. True when at least one collector was watching (its filter decides)."""
    key = _key(kind, item)
    watched = False
    for collector in list(rt.collectors.values()):
        if collector.kind != kind or collector.ended or (own and not collector.include_self):
            continue
        if collector.target is not None and collector.target != key:
            continue
        watched = True
        if collector.filter is None:
            _collect(rt, collector, item)
        else:
            rt.spawn(_filter_then_collect(rt, collector, item))
    return watched


async def _filter_then_collect(rt: BotRuntime, collector: Collector, item: dict[str, Any]) -> None:
    assert collector.filter is not None
    try:
        passed = await call_async(
            collector.filter.fn, *_call_args(collector.filter, _args(item, collector.kind))
        )
    except Exception as exc:  # a mistake in the filter must not stop the bot
        rt.report_handler_error(exc, "collector filter")
        return
    if truthy(passed) and not collector.ended:
        _collect(rt, collector, item)


def _collect(rt: BotRuntime, collector: Collector, item: dict[str, Any]) -> None:
    collector.collected.append(item)
    args = _args(item, collector.kind)
    for handler in collector.on_collect:
        rt.spawn(_run(rt, handler, args, "collect"))
    if collector.max is not None and len(collector.collected) >= collector.max:
        end(rt, collector, "limit")


async def _run(rt: BotRuntime, handler: Handler, args: tuple[Any, ...], event: str) -> None:
    try:
        await call_async(handler.fn, *_call_args(handler, args))
    except Exception as exc:  # a user's mistake must not stop the bot
        rt.report_handler_error(exc, event)


def end(rt: BotRuntime, collector: Collector, reason: str) -> None:
    """Stop collecting; the end handlers get ``(collected, reason)`` (once)."""
    if collector.ended:
        return
    collector.ended = True
    collector.reason = reason
    if collector.timer is not None:
        collector.timer.cancel()
    rt.collectors.pop(collector.id, None)
    rt.ended_collectors[collector.id] = collector
    while len(rt.ended_collectors) > ENDED_REMEMBERED:
        rt.ended_collectors.popitem(last=False)
    if collector.done is not None and not collector.done.done():
        collector.done.set_result(None)
    if reason == "shutdown":
        return  # the bot is stopping: its handler tasks are being cancelled
    for handler in collector.on_end:
        rt.spawn(_run(rt, handler, (list(collector.collected), reason), "collector end"))


def end_all(rt: BotRuntime) -> None:
    """The bot stops: every collector ends (its waiters return null)."""
    for collector in list(rt.collectors.values()):
        end(rt, collector, "shutdown")


def add_collect_handler(rt: BotRuntime, collector_id: Any, fn: Any) -> None:
    collector = find(rt, collector_id, "on_collect()")
    collector.on_collect.append(_handler(fn, "on_collect() handler"))


def add_end_handler(rt: BotRuntime, collector_id: Any, fn: Any) -> None:
    collector = find(rt, collector_id, "on_collector_end()")
    handler = _handler(fn, "on_collector_end() handler")
    collector.on_end.append(handler)
    if collector.ended and collector.reason != "shutdown":
        # It ended before this handler came (e.g. max reached at once): run it now.
        rt.spawn(_run(rt, handler, (list(collector.collected), collector.reason), "collector end"))


async def wait_for(
    rt: BotRuntime, kind: str, target: str | None, flt: Any, timeout: Any, what: str
) -> Any:
    """The first message/reaction (in ``target``) that passes ``flt``, or null after ``timeout``."""
    options: dict[str, Any] = {"max": 1}
    if flt is not None:
        options["filter"] = flt
    if timeout is not None:
        options["time"] = timeout
    collector = create(rt, kind, target, options, what)
    collector.done = asyncio.get_running_loop().create_future()
    try:
        await collector.done
    finally:
        end(rt, collector, "user")  # cancelled (Ctrl-C): leave no collector behind
    return collector.collected[0] if collector.collected else None


def target_message_id(value: Any, what: str) -> str:
    """A message id from a message object or an id."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(convert.snowflake_arg(value, what=what))


__all__ = [
    "Collector",
    "add_collect_handler",
    "add_end_handler",
    "create",
    "end",
    "end_all",
    "find",
    "offer",
    "target_message_id",
    "wait_for",
]
