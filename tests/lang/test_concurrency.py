"""EasyLang functions are plain Python functions that can still pause: two programs
interleave at wait() and the event loop keeps running."""

from __future__ import annotations

import asyncio
import time

from ezlang.lang import call_async, compile_source
from ezlang.lang.registry import BUILTINS, register


async def test_two_easylang_coroutines_interleave_at_wait() -> None:
    log: list[str] = []
    saved = {k: BUILTINS.get(k) for k in ("note", "pause")}

    async def pause(seconds: float) -> None:
        await asyncio.sleep(seconds)

    register("note", log.append)
    register("pause", pause)
    try:
        a = compile_source('for i in range(3) { note("a" + i)\n pause(0.01) }', "a.ez")
        b = compile_source('for i in range(3) { note("b" + i)\n pause(0.01) }', "b.ez")
        await asyncio.gather(call_async(a.run), call_async(b.run))
    finally:
        for key, value in saved.items():
            if value is None:
                BUILTINS.pop(key, None)
            else:
                BUILTINS[key] = value
    assert log == ["a0", "b0", "a1", "b1", "a2", "b2"]


async def test_real_wait_builtin_pauses_only_the_caller() -> None:
    import ezlang.lang.builtins  # noqa: F401  (the real wait)

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    try:
        program = compile_source("func slow() { wait(0.1)\n return 1 }\nlet r = slow()", "w.ez")
        start = time.monotonic()
        ns = await asyncio.wait_for(call_async(program.run), timeout=10)
        elapsed = time.monotonic() - start
    finally:
        task.cancel()
    assert ns["r"] == 1
    assert elapsed >= 0.09
    assert ticks >= 3  # the loop kept running while EasyLang code waited


async def test_deep_easylang_recursion_inside_call_async() -> None:
    program = compile_source(
        "func depth(n) { if n == 0 { return 0 }\n return 1 + depth(n - 1) }\nlet d = depth(3000)",
        "deep.ez",
    )
    ns = await asyncio.wait_for(call_async(program.run), timeout=30)
    assert ns["d"] == 3000
