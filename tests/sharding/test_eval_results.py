"""broadcast_eval results that cannot travel to the manager: clear EasyLang errors, never a
Python RecursionError or a Python repr, and the shard keeps answering afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding.agent import MAX_DEPTH

from .conftest import HERE, run_ez_script

pytestmark = pytest.mark.timeout(120)

EZBOT = HERE / "bots" / "bot.ez"
PREFIX = "broadcast_eval failed on shard 0: the code returned a value that cannot be sent: "

CYCLIC_LIST = "let a = []\npush(a, a)\nreturn a"
CYCLIC_OBJECT = "let o = {name: 1}\no.me = o\nreturn {outer: o}"
NESTED = "let a = []\nfor i in range(10000) {\n    a = [a]\n}\nreturn a"
FUNCTION = "func f(x) {\n    return x\n}\nreturn {handler: f}"
BIG_INT = "let n = 1\nfor i in range(5000) {\n    n = n * 10\n}\nreturn n"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (CYCLIC_LIST, "a list that contains itself"),
        (CYCLIC_OBJECT, "an object that contains itself"),
        (NESTED, f"lists and objects nested deeper than {MAX_DEPTH} levels"),
        (FUNCTION, "a function (functions stay in their shard"),
        (BIG_INT, "a whole number with more than 4000 digits"),
        # The same, after the code paused (the other way an eval ends in the shard).
        ("wait(0.01)\n" + CYCLIC_LIST, "a list that contains itself"),
        ("wait(0.01)\n" + FUNCTION, "a function (functions stay in their shard"),
    ],
)
async def test_an_unsendable_result_is_a_clear_sharding_error(
    sandbox: Sandbox, make_manager, code: str, reason: str
) -> None:
    manager, reporter = make_manager(total_shards=1)
    await manager.spawn()
    pid = manager.shards[0].pid
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval(code)
    assert info.value.kind == "ShardingError"
    assert info.value.message.startswith(PREFIX + reason), info.value.message
    for python in ("Recursion", "Traceback", "<function", "Error:"):
        assert python not in info.value.message
    # The link and the shard survived: the same process answers the next call.
    assert await manager.broadcast_eval("return 1") == [1]
    assert manager.shards[0].pid == pid
    assert "Traceback" not in reporter.text()


async def test_shared_and_deep_but_finite_results_still_travel(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(total_shards=1)
    await manager.spawn()
    # The same list twice side by side is not a cycle.
    assert await manager.broadcast_eval("let b = [1]\nreturn [b, {x: b}, b]") == [
        [[1], {"x": [1]}, [1]]
    ]
    # Exactly MAX_DEPTH levels still travel (the limit is not off by one).
    deep = f"let a = []\nfor i in range({MAX_DEPTH - 1}) {{\n    a = [a]\n}}\nreturn a"
    (value,) = await manager.broadcast_eval(deep)
    depth = 0
    while value != []:
        (value,) = value
        depth += 1
    assert depth == MAX_DEPTH - 1
    # The client view (host objects) still becomes objects of its members.
    (ws,) = await manager.broadcast_eval("return client.ws")
    assert isinstance(ws, dict) and "ping" in ws


async def test_an_ez_manager_script_shows_the_error_at_its_broadcast_eval_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    script = tmp_path / "manager.ez"
    script.write_text(
        f"create_shard_manager({str(EZBOT)!r}, {{total_shards: 1}})\n"
        "spawn_shards()\n"
        'print("spawned")\n'
        'let results = broadcast_eval("let a = []\\npush(a, a)\\nreturn a")\n'
        'print("not reached")\n'
    )
    returncode, out, err = await run_ez_script(script, sandbox)
    assert returncode != 0, out + err
    assert "spawned" in out and "not reached" not in out
    assert f"ShardingError: {PREFIX}a list that contains itself" in err, err
    assert "manager.ez:4" in err, err  # the broadcast_eval line of the script
    assert "Traceback" not in err
    assert sandbox.token not in out + err
