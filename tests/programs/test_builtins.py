"""Core builtins called directly: argument checking never leaks a Python exception, and
``wait()`` pauses only the calling EasyLang function (two programs interleave)."""

from __future__ import annotations

import asyncio
import inspect

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ezlang.lang.builtins  # noqa: F401  (registers the core builtins)
from ezlang.lang import call_async, compile_source
from ezlang.lang.errors import KINDS, EzError
from ezlang.lang.registry import BUILTINS


def _is_core(fn: object) -> bool:
    """A builtin defined in the ``ezlang.lang.builtins`` package (an async one wraps it)."""
    fn = getattr(fn, "__ez_async__", fn)
    return getattr(fn, "__module__", "").startswith("ezlang.lang.builtins.")


CORE = sorted(name for name, fn in BUILTINS.items() if not name.startswith("$") and _is_core(fn))
PAUSING = {"wait", "sleep"}  # need an event loop; tested below
SYNC_CORE = [n for n in CORE if n not in PAUSING and n != "print"]

ez_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=10,
)


def test_all_core_builtins_are_registered():
    expected = set(
        """print str num int type typeof length range push pop append insert remove slice
        reverse sort keys object_keys values has_key contains index_of split join replace
        upper lower trim starts_with ends_with substr floor ceil round abs min max sqrt pow
        random random_int time now wait sleep get_argument get_env json_parse json_stringify
        error assert""".split()
    )
    assert expected <= set(BUILTINS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SYNC_CORE), args=st.lists(ez_values, max_size=3))
def test_builtin_with_any_arguments_returns_or_raises_an_easylang_error(name, args):
    fn = BUILTINS[name]
    params = inspect.signature(fn).parameters.values()
    if all(p.kind is not p.VAR_POSITIONAL for p in params) and len(args) > len(params):
        return  # too many arguments: reported as ArgumentError by the runtime's call path
    try:
        fn(*args)
    except EzError as exc:
        assert exc.kind in KINDS
        assert exc.message
        if exc.kind == "TypeError":
            assert f"{fn.__name__}()" in exc.message  # names the builtin


async def test_two_easylang_functions_interleave_at_wait():
    program = compile_source(
        """
        let log = []
        func worker(name, pause) {
            for i in range(3) {
                push(log, name + i)
                wait(pause)
            }
        }
        """,
        "<interleave>",
    )
    ns = await call_async(program.run)
    await asyncio.gather(
        call_async(ns["worker"], "a", 0.03),
        call_async(ns["worker"], "b", 0.03),
    )
    # Both ran concurrently: each wait() let the other worker take its next step (run one
    # after the other, the log would be a0 a1 a2 b0 b1 b2).
    assert ns["log"] == ["a0", "b0", "a1", "b1", "a2", "b2"]


async def test_a_busy_function_does_not_block_a_waiting_one_forever():
    program = compile_source(
        """
        let events = []
        func sleeper() {
            sleep(10)
            push(events, "sleeper woke")
        }
        func worker() {
            push(events, "worker start")
            wait(0.05)
            push(events, "worker end")
        }
        """,
        "<pause>",
    )
    ns = await call_async(program.run)
    await asyncio.gather(call_async(ns["worker"]), call_async(ns["sleeper"]))
    assert ns["events"] == ["worker start", "sleeper woke", "worker end"]


def test_print_writes_space_separated_values(capsys):
    BUILTINS["print"]("a", 1, None, [1, "x"], {"k": True})
    assert capsys.readouterr().out == 'a 1 null [1, "x"] {"k": true}\n'
