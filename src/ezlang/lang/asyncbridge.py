"""Let plain (synchronous) EasyLang code pause inside ``wait()`` and network calls.

EasyLang functions compile to plain Python functions, because ``async def`` recursion
costs CPython about 2.7x a plain call. A running EasyLang program lives in its own
greenlet; when it needs to wait for an awaitable it switches back to the asyncio task
that drives it (:func:`call_async`), which awaits the awaitable and switches back in
with the result. Only that EasyLang call chain pauses; the event loop and every other
handler keep running. This is the technique SQLAlchemy's asyncio layer uses
(``greenlet_spawn`` / ``await_only``); it is ~40 lines, so we keep our own copy on top
of the ``greenlet`` package rather than depend on SQLAlchemy.

One driver loop (:func:`drive`) serves both ways of running code: :func:`call_async` (a
fresh greenlet per call, which ends with the call) and :class:`KeptRunner` (one greenlet kept
for the next call, for callers that run many short snippets, like a shard answering
``broadcast_eval``).
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


class Done:
    """What a :class:`KeptRunner`'s greenlet hands its driver when a call has finished (as
    opposed to an awaitable it waits for): ``ok`` and the value, or the exception raised."""

    __slots__ = ("ok", "value")

    def __init__(self, ok: bool, value: Any) -> None:
        self.ok = ok
        self.value = value

    def result(self) -> Any:
        """The value, or raise the exception."""
        if self.ok:
            return self.value
        raise self.value


def _run_many(job: tuple[Callable[[Any], Any], Any]) -> None:
    # The body of a KeptRunner's greenlet: one call per switch, for ever (until collected).
    driver = greenlet.getcurrent().driver  # type: ignore[attr-defined]
    while True:
        fn, arg = job
        try:
            done = Done(True, fn(arg))
        except greenlet.GreenletExit:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the driver, which raises it
            done = Done(False, exc)
        del fn, arg
        job = driver.switch(done)


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


async def drive(context: greenlet.greenlet, out: Any) -> Any:
    """The driver loop: ``out`` is what ``context`` switched back with. Await each awaitable
    it hands over and switch the outcome back in, until it ends: returns what the greenlet
    returned (``call_async``) or the :class:`Done` it handed back (a :class:`KeptRunner`'s
    greenlet, which never ends); an exception the greenlet raises propagates."""
    while type(out) is not Done and not context.dead:
        try:
            value = await out
        except BaseException:
            out = context.throw(*sys.exc_info())
        else:
            out = context.switch(value)
    return out


async def call_async(fn: Callable[..., T], *args: Any) -> T:
    """Run the synchronous callable ``fn(*args)`` (EasyLang code) so that it may pause.

    Returns its result or raises its exception. If ``fn`` is already running inside EasyLang
    code's greenlet this still works: a fresh greenlet is made for it.
    """
    context = EzGreenlet(fn, greenlet.getcurrent())
    out = context.switch(*args)
    if context.dead:  # most calls never pause: no driver coroutine for them
        return out  # type: ignore[no-any-return]
    return await drive(context, out)  # type: ignore[no-any-return]


class KeptRunner:
    """Runs calls in a greenlet that is kept for the next call.

    Making a greenlet costs ~15 µs on a small VM, switching into a kept one ~2 µs. A call
    that finishes without pausing gives its :class:`Done` at once (no task, no trip through
    the event loop); one that pauses takes the greenlet with it until it ends. Start every
    call from the same greenlet (the event loop's): the code switches back to that one.
    """

    __slots__ = ("_idle",)

    def __init__(self) -> None:
        self._idle: EzGreenlet | None = None

    def run(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        """Run ``fn(arg)`` until it finishes or pauses: its :class:`Done`, or an awaitable
        that drives it to its end (its value, or it raises its exception)."""
        runner = self._idle
        if runner is None or runner.dead:
            runner = EzGreenlet(_run_many, greenlet.getcurrent())
        else:
            self._idle = None  # busy until it hands back a Done
        out = runner.switch((fn, arg))
        if type(out) is Done:
            self._idle = runner
            return out
        return self._finish(runner, out)

    async def _finish(self, runner: EzGreenlet, out: Any) -> Any:
        done = await drive(runner, out)
        if self._idle is None and not runner.dead:
            self._idle = runner  # free again: keep it for the next call
        return done.result()
