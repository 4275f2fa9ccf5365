"""The shard agent's small parts: bounded waits on the way out, and the result serialiser."""

from __future__ import annotations

import asyncio
import time

import pytest

from ezlang.lang.errors import EzError
from ezlang.sharding import shard_exit
from ezlang.sharding.agent import MAX_DEPTH, Unsendable, to_plain


async def test_a_wait_on_the_way_out_gives_up_on_code_that_swallows_its_cancellation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    release = asyncio.Event()
    cancels = 0

    async def stubborn() -> None:
        # What a wait_for() inside discord.py can do on Python 3.11: eat the cancellation.
        nonlocal cancels
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancels += 1

    started = time.monotonic()
    await shard_exit.bounded(stubborn(), 0.2, "closing the gateway connection")
    assert time.monotonic() - started < 2.5
    assert cancels >= 1  # it was asked to stop, and did not
    err = capsys.readouterr().err
    assert "closing the gateway connection did not finish within 0.2 s; left behind" in err
    release.set()
    await asyncio.sleep(0)  # let it end (no task left behind by the test)


async def test_a_failure_on_the_way_out_is_said_not_hidden(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def failing() -> None:
        raise EzError("ValueError", "the hook broke")

    await shard_exit.bounded(failing(), 1.0, "the shutdown hooks")
    assert "the shutdown hooks failed: ValueError: the hook broke" in capsys.readouterr().err


def test_to_plain_walks_data_and_names_what_cannot_travel() -> None:
    shared = [1]
    assert to_plain([shared, {"a": shared}, 1.5, float("nan"), None, True]) == [
        [1], {"a": [1]}, 1.5, None, None, True,
    ]  # fmt: skip
    cyclic: list = []
    cyclic.append({"inner": cyclic})
    with pytest.raises(Unsendable, match="^a list that contains itself$"):
        to_plain(cyclic)
    deep: list = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    with pytest.raises(Unsendable, match=f"nested deeper than {MAX_DEPTH} levels"):
        to_plain(deep)
    assert to_plain(deep[0]) is not None  # MAX_DEPTH levels exactly are fine
    with pytest.raises(Unsendable, match=r"^a function \(functions stay in their shard"):
        to_plain({"f": len})
