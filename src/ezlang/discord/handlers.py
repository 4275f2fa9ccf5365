"""An EasyLang function registered for a Discord event or a collector, and its options."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ezlang.lang.errors import EzError
from ezlang.lang.values import to_repr


@dataclass(slots=True)
class Handler:
    """An EasyLang function registered for an event; ``nargs`` is how many arguments it takes."""

    fn: Callable[..., Any]
    nargs: int | None
    #: messageCreate only: whether the bot's own messages reach this handler too.
    include_self: bool = False
    #: Where ``listen`` was called (position and source line), for a later intent error.
    where: Any = None


def _arity(fn: Callable[..., Any]) -> int | None:
    """How many positional arguments ``fn`` accepts (None: any number).

    EasyLang treats extra arguments as an error, so an event with several arguments (for
    example ``messageUpdate(old, new)``) passes only as many as the handler declares.
    """
    code = getattr(fn, "__code__", None)
    if code is not None and not code.co_flags & inspect.CO_VARARGS:
        count = code.co_argcount
        return count - 1 if inspect.ismethod(fn) else count
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


#: Events that leave out the bot's own doing unless a handler says ``include_self``.
_SELF_EVENTS = ("messageCreate", "messageReactionAdd", "messageReactionRemove")


def handler_options(options: Any, event: str) -> bool:
    """``include_self`` of a handler's options object (``{include_self: true}``)."""
    if options is None:
        return False
    if not isinstance(options, dict):
        raise EzError(
            "TypeError",
            f"the options of a {event} handler must be an object, not {to_repr(options)}",
        )
    unknown = sorted(set(options) - {"include_self"})
    if unknown:
        raise EzError(
            "ValueError",
            f"unknown handler option(s) {', '.join(unknown)}; the one option is include_self",
        )
    if event not in _SELF_EVENTS and "include_self" in options:
        raise EzError("ValueError", f"include_self is an option of {', '.join(_SELF_EVENTS)} only")
    return bool(options.get("include_self"))
