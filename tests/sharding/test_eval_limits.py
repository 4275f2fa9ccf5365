"""broadcast_eval's ``context`` option (values passed, not pasted into the code) and the
``max_eval_bytes`` limit: code, context and results of any size are clear ``ValueError``s
above it, travel intact below it, and never cut the IPC link (the shard stays the same process).
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from ezlang.lang.errors import EzError
from ezlang.sandbox import Sandbox
from ezlang.sharding import ipc

from .conftest import HERE, run_ez_script, text_channel, wait_until

pytestmark = pytest.mark.timeout(120)

EZBOT = HERE / "bots" / "bot.ez"
LIMIT = 2 * 1024 * 1024

#: A string of ``context.n`` characters (a JSON string of n + 2 bytes: the quotes).
STRING_OF_N = (
    'let s = "x"\nwhile length(s) < context.n {\n    s = s + s\n}\nreturn substr(s, 0, context.n)'
)


async def test_context_is_bound_in_the_code_and_hostile_text_stays_data(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(EZBOT, total_shards=2)
    await manager.spawn()
    # What pasting this into the code string would have run, passed as data it is only text.
    hostile = '"); stop_shards(); print("'
    results = await manager.broadcast_eval(
        "return {echo: context.text, twice: context.n * 2, guilds: client.guilds.cache.size > 0}",
        context={"text": hostile, "n": 21},
    )
    assert results == [{"echo": hostile, "twice": 42, "guilds": True}] * 2
    # Without the option, context is null; one shard gets its own context only.
    assert await manager.broadcast_eval("return context == null") == [True, True]
    assert await manager.broadcast_eval("return context", shard=1, context=[1, "a"]) == [1, "a"]
    # From inside a shard (routed through the manager), with a context of its own.
    nested = 'return broadcast_eval("return context.n + 1", {context: {n: 41}})'
    assert await manager.broadcast_eval(nested, shard=0) == [42, 42]
    assert all(s.status == "ready" for s in manager.shards.values())


#: The docs' example (docs/SHARDING.md, "Passing values into the code"): the pasted form and the
#: safe one.
COUNT_PASTED = (
    'let n = 0\nfor g in list_guilds() {\n    if g.name == "NAME" {\n        n += 1\n    }\n}\n'
    "return n"
)
COUNT_SAFE = COUNT_PASTED.replace('"NAME"', "context.name")


async def test_pasting_input_into_code_runs_it_and_context_does_not(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(EZBOT, total_shards=1)
    await manager.spawn()
    hostile = 'x" {\n}\nreturn "the member\'s own code ran"\nif "" == "'
    assert await manager.broadcast_eval(COUNT_PASTED.replace("NAME", hostile)) == [
        "the member's own code ran"
    ]
    assert await manager.broadcast_eval(COUNT_SAFE, context={"name": hostile}) == [0]
    (guilds,) = await manager.broadcast_eval("return list_guilds()")
    name = guilds[0]["name"]
    counted = await manager.broadcast_eval(COUNT_SAFE, context={"name": name})
    assert counted == [sum(1 for g in guilds if g["name"] == name)] and counted[0] >= 1


async def test_a_context_that_cannot_travel_is_the_callers_type_error(
    sandbox: Sandbox, make_manager
) -> None:
    manager, _ = make_manager(EZBOT, total_shards=1)
    await manager.spawn()
    cyclic: list[object] = []
    cyclic.append(cyclic)
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval("return 1", context={"loop": cyclic})
    assert info.value.kind == "TypeError"
    assert info.value.message == (
        "broadcast_eval: the context cannot be sent to another shard: a list that contains itself"
    )
    # The same from a shard's code: its error names the context, the shard is unharmed.
    inner = 'func f() {\n    return 1\n}\nreturn broadcast_eval("return 1", {context: {f: f}})'
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval(inner)
    assert info.value.kind == "TypeError"
    assert "the context cannot be sent to another shard: a function" in info.value.message


async def test_results_up_to_the_limit_travel_and_above_it_are_a_value_error(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(EZBOT, total_shards=1, max_eval_bytes=LIMIT)
    await manager.spawn()
    pid = manager.shards[0].pid
    # Exactly the limit (n characters + 2 quotes): arrives intact.
    (text,) = await manager.broadcast_eval(STRING_OF_N, context={"n": LIMIT - 2})
    assert text == "x" * (LIMIT - 2)
    # One byte more: the shard answers with the error instead of sending it.
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval(STRING_OF_N, context={"n": LIMIT - 1})
    assert info.value.kind == "ValueError"
    message = info.value.message
    assert message.startswith("broadcast_eval failed on shard 0: the result is 2.0 MiB"), message
    assert f"({LIMIT + 1} bytes of JSON), more than the limit of 2.0 MiB ({LIMIT} bytes" in message
    assert "max_eval_bytes" in message
    # The same after the code paused (the other way an eval ends in the shard).
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval("wait(0.01)\n" + STRING_OF_N, context={"n": LIMIT})
    assert info.value.kind == "ValueError" and f"({LIMIT + 2} bytes" in info.value.message
    # The link and the shard survived: the same process answers the next call.
    assert await manager.broadcast_eval("return 1") == [1]
    assert manager.shards[0].pid == pid and manager.shards[0].restarts == 0
    assert "Traceback" not in reporter.text()


async def test_code_and_context_over_the_limit_are_refused_before_sending(
    sandbox: Sandbox, make_manager
) -> None:
    manager, reporter = make_manager(EZBOT, total_shards=2, max_eval_bytes=LIMIT)
    await manager.spawn()
    pid = manager.shards[0].pid
    for kwargs in ({"code": "return " + "1" * LIMIT}, {"code": "1", "context": "y" * LIMIT}):
        with pytest.raises(EzError) as info:
            await manager.broadcast_eval(**kwargs)  # type: ignore[arg-type]
        assert info.value.kind == "ValueError"
        assert info.value.message.startswith("broadcast_eval: the request is 2.0 MiB")
        assert f"more than the limit of 2.0 MiB ({LIMIT} bytes" in info.value.message
    # From inside a shard: refused in the shard, before it reaches the manager.
    inner = 'return broadcast_eval("return 1", {context: context + context})'
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval(inner, context="z" * (LIMIT // 2 + 10))
    assert info.value.kind == "ValueError"
    assert "the route request is 2.0 MiB" in info.value.message
    # The results of all shards together, routed back to a shard, are bounded the same way
    # (each 1.5 MB, 3 MB in all): the calling shard's code gets the ValueError.
    inner = "return length(broadcast_eval(context.code, {context: {n: context.n}}))"
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval(inner, shard=0, context={"code": STRING_OF_N, "n": 1_500_000})
    assert info.value.kind == "ValueError"
    assert "the result is 2.9 MiB (3000007 bytes of JSON)" in info.value.message
    assert await manager.broadcast_eval("return 2") == [2, 2]
    assert manager.shards[0].pid == pid and manager.shards[0].restarts == 0
    assert "Traceback" not in reporter.text()


async def test_a_result_above_the_old_64_mib_breakage_no_longer_kills_the_shard(
    sandbox: Sandbox, make_manager
) -> None:
    # Before max_eval_bytes, a reply frame over 64 MiB made the manager close the link and the
    # shard exited ("exit code 0"). With the default limit (16 MiB) the shard answers instead.
    manager, reporter = make_manager(EZBOT, total_shards=1)
    await manager.spawn()
    pid = manager.shards[0].pid
    n = 70 * 1024 * 1024
    started = time.monotonic()
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval(STRING_OF_N, context={"n": n}, timeout=30)
    assert info.value.kind == "ValueError"
    assert f"the result is 70.0 MiB ({n + 2} bytes of JSON)" in info.value.message
    assert "(16777216 bytes, the shard manager option max_eval_bytes)" in info.value.message
    assert time.monotonic() - started < 30
    assert await manager.broadcast_eval("return 1") == [1]
    assert manager.shards[0].pid == pid and manager.shards[0].restarts == 0
    assert "Traceback" not in reporter.text()


async def test_an_ez_manager_script_gets_the_context_error_at_its_line(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    script = tmp_path / "manager.ez"
    script.write_text(
        f"create_shard_manager({str(EZBOT)!r}, {{total_shards: 1}})\n"
        "spawn_shards()\n"
        'print(broadcast_eval("return context.name", {context: {name: "Ann"}}))\n'
        "func f() {\n    return 1\n}\n"
        'broadcast_eval("return 1", {context: {f: f}})\n'
        'print("not reached")\n'
    )
    returncode, out, err = await run_ez_script(script, sandbox)
    assert returncode != 0, out + err
    assert '["Ann"]' in out and "not reached" not in out, out
    assert "TypeError: broadcast_eval: the context cannot be sent to another shard" in err, err
    assert "manager.ez:7" in err, err
    assert "Traceback" not in err


async def test_the_ipc_framing_carries_frames_above_64_mib_when_the_limit_allows() -> None:
    # The link itself has no fixed frame size any more: what decides is max_payload (the
    # manager's max_eval_bytes), the same on both ends.
    left_sock, right_sock = socket.socketpair()
    big = "y" * (70 * 1024 * 1024)
    left = await ipc.Channel.from_socket(left_sock)
    right = await ipc.Channel.from_socket(right_sock, on_request=lambda op, data: big[:data])
    try:
        for channel in (left, right):
            channel.max_payload = 80 * 1024 * 1024
            channel.start()
        assert await left.request("give", len(big), timeout=30) == big
        right.max_payload = 1024  # now the answering side refuses, and says why
        with pytest.raises(EzError) as info:
            await left.request("give", 2000, timeout=30)
        assert info.value.kind == "ValueError"
        assert info.value.message.startswith("the result is 2.0 KiB (2002 bytes of JSON)")
        assert await left.request("give", 3, timeout=5) == "yyy"  # the link is still up
        with pytest.raises(EzError) as info:
            right.send_request("x", ipc.dumps("z" * 2000), lambda ok, value: None)
        assert info.value.message.startswith("the x request is 2.0 KiB (2002 bytes of JSON)")
    finally:
        await left.close()
        await right.close()


async def test_js_shards_bind_context_and_answer_a_result_over_the_limit(
    sandbox: Sandbox, make_manager, discordjs_dir: Path
) -> None:
    manager, reporter = make_manager(discordjs_dir / "bot.js", total_shards=2, max_eval_bytes=LIMIT)
    await manager.spawn()
    pids = [manager.shards[i].pid for i in (0, 1)]
    # A code string sees `context`; a function gets it as its second argument (discord.js).
    assert await manager.broadcast_eval("context.n + 1", context={"n": 41}) == [42, 42]
    fn = "(c, ctx) => ctx.n * 2 + c.shard.ids[0]"
    assert await manager.broadcast_eval(fn, context={"n": 21}) == [42, 43]
    code = "'x'.repeat(context.n)"
    assert await manager.broadcast_eval(code, shard=1, context={"n": LIMIT - 2}) == "x" * (
        LIMIT - 2
    )
    with pytest.raises(EzError) as info:
        await manager.broadcast_eval(code, shard=1, context={"n": LIMIT - 1})
    assert info.value.kind == "ValueError"
    assert info.value.message.startswith(
        f"broadcast_eval failed on shard 1: the result is 2.0 MiB ({LIMIT + 1} bytes of JSON), "
        f"more than the limit of 2.0 MiB ({LIMIT} bytes, the shard manager option max_eval_bytes)"
    )
    # The bot's own client.shard.broadcastEval with a context: bound, and refused when too big.
    channel = text_channel(sandbox, 0, 2)
    await sandbox.inject_message(channel, "!context")
    rows = await wait_until(lambda: sandbox.bot_messages(channel), 20, "the bot's reply")
    assert rows[0]["content"].startswith(
        "w0,w1; ValueError: the broadcastEval request is 3.0 MiB"
    ), rows[0]["content"]
    assert await manager.broadcast_eval("1 + 1") == [2, 2]
    assert [manager.shards[i].pid for i in (0, 1)] == pids
    assert "Traceback" not in reporter.text()
