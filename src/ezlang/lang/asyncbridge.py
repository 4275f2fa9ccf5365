"""Let plain (synchronous) EasyLang code pause inside ``wait()`` and network calls.

EasyLang functions compile to plain Python functions, because ``async def`` recursion
costs CPython about 2.7x a plain call. A running EasyLang program lives in its own
greenlet; when it needs to wait for an awaitable it switches back to the asyncio task
that drives it (:func:`call_async`), which awaits the awaitable and switches back in
with the result. Only that EasyLang call chain pauses; the event loop and every other
handler keep running. This is the technique SQLAlchemy's asyncio layer uses
(``greenlet_spawn`` / ``await_only``); it is ~40 lines, so we keep our own copy on top
of the ``greenlet`` package rather than depend on SQLAlchemy.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")


class EzGreenlet(greenlet.greenlet):
    """A greenlet running EasyLang code, driven by the asyncio task in ``driver``."""

    __slots__ = ("driver",)

    def __init__(self, fn: Callable[..., Any], driver: greenlet.greenlet) -> None:
        super().__init__(fn, driver)
        self.driver = driver


def in_easylang() -> bool:
    """True when called (directly or indirectly) from EasyLang code run by :func:`call_async`."""
    return isinstance(greenlet.getcurrent(), EzGreenlet)


def await_(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` from synchronous EasyLang code; pauses only this EasyLang call chain.

    Must be called inside :func:`call_async` (every EasyLang program, handler and eval is).
    """
    current = greenlet.getcurrent()
    if not isinstance(current, EzGreenlet):
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # avoid "coroutine was never awaited"
        raise RuntimeError("await_() called outside EasyLang code (use call_async)")
    return current.driver.switch(awaitable)  # type: ignore[no-any-return]


async def call_async(fn: Callable[..., T], *args: Any) -> T:
    """Run the synchronous callable ``fn(*args)`` (EasyLang code) so that it may pause.

    Returns its result or raises its exception. If ``fn`` is already running inside EasyLang
    code's greenlet this still works: a fresh greenlet is made for it.
    """
    context = EzGreenlet(fn, greenlet.getcurrent())
    result: Any = context.switch(*args)
    while not context.dead:
        try:
            value = await result
        except BaseException:
            result = context.throw(*sys.exc_info())
        else:
            result = context.switch(value)
    return result  # type: ignore[no-any-return]
