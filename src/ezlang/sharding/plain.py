"""Plain values: what may travel between processes (shard ↔ manager, over IPC or Redis).

:func:`to_plain` is the one serialiser of eval, fetch and message values: the manager and the
Redis bus pass on what it made.
"""

from __future__ import annotations

import math
from typing import Any

from ezlang.lang.errors import EzError

#: Deepest nesting of lists and objects a result may have: JSON encoders and decoders recurse,
#: and real data is never this deep.
MAX_DEPTH = 100
#: Host objects (the client view's sections) deeper than this become their text: their members
#: are made afresh on every read, so only depth bounds them.
_HOST_DEPTH = 4
#: Python will not turn a whole number of more than ~4300 digits into text (nor back).
_MAX_INT_BITS = 14_000


class Unsendable(ValueError):
    """A value that cannot travel to another process; the message says what it is."""


def to_plain(value: Any) -> Any:
    """Make an EasyLang value JSON-safe for the trip to the manager (the one serialiser of
    results: the manager and the Redis bus pass on what it made).

    Host objects become objects of their members, a few levels deep; NaN and infinities
    become null (JSON has no such numbers). Raises :class:`Unsendable` for a function, a
    list or object that contains itself, nesting deeper than :data:`MAX_DEPTH` levels and a
    number too long to write.
    """
    t = type(value)
    if value is None or t is str or t is bool or (t is int and value.bit_length() <= _MAX_INT_BITS):
        return value  # the common answers, without the walk
    return _plain(value, 0, set())


def plain_arg(what: str, name: str, value: Any) -> Any:
    """``value`` made plain to travel to another shard (:func:`to_plain`), or the caller's
    ``TypeError`` saying why it cannot (``what``: the builtin, ``name``: the argument)."""
    try:
        return to_plain(value)
    except Unsendable as exc:
        raise EzError(
            "TypeError", f"{what}: {name} cannot be sent to another shard: {exc}"
        ) from None


def _plain(value: Any, depth: int, path: set[int]) -> Any:
    # ``path``: ids of the lists and objects between the top and here (a repeat is a cycle; the
    # same list twice side by side is not). Dispatch on the exact type first: the hot path.
    t = type(value)
    if t is str or t is bool or value is None:
        return value
    if t is int:
        if value.bit_length() > _MAX_INT_BITS:
            raise Unsendable("a whole number with more than 4000 digits")
        return value
    if t is float:
        return value if math.isfinite(value) else None
    if t is list or t is dict or t is tuple or isinstance(value, list | tuple | dict):
        is_dict = isinstance(value, dict)
        if depth >= MAX_DEPTH:
            raise Unsendable(f"lists and objects nested deeper than {MAX_DEPTH} levels")
        key = id(value)
        if key in path:
            raise Unsendable(f"{'an object' if is_dict else 'a list'} that contains itself")
        path.add(key)
        depth += 1
        if is_dict:
            out: Any = {str(k): _plain(v, depth, path) for k, v in value.items()}
        else:
            out = [_plain(v, depth, path) for v in value]
        path.discard(key)  # (after an Unsendable the walk is over: no finally needed)
        return out
    keys = getattr(value, "ez_keys", None)
    if callable(keys):
        # A host object may hand out itself or its parent: bounded by depth, not by the path.
        if depth >= _HOST_DEPTH:
            return str(value)  # the sections' text is their path, like "<client.ws>"
        return {k: _plain(value.ez_get(k), depth + 1, path) for k in keys()}
    if callable(value):
        raise Unsendable("a function (functions stay in their shard: return what they compute)")
    return str(value)
