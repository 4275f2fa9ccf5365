"""import: relative to the importing file, runs once, binds names or an object, cycles fail
clearly; compile_snippet (broadcast_eval) and the REPL API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ezlang.lang import (
    NO_VALUE,
    EzError,
    call_async,
    compile_file,
    compile_interactive,
    compile_snippet,
    compile_source,
)

from .conftest import run_error


def run_file(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    program = compile_file(str(path))
    asyncio.run(call_async(program.run))
    return capsys.readouterr().out


def test_import_binds_names_and_runs_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "utils.ez").write_text(
        'print("loading utils")\nfunc add(a, b) { return a + b }\nlet PI = 3.14\n'
    )
    (tmp_path / "main.ez").write_text(
        'import "lib/utils.ez"\nimport "lib/utils.ez" as u\nprint(add(1, 2), PI, u.add(2, 3))\n'
        "print(keys(u))\n"
    )
    assert run_file(tmp_path / "main.ez", capsys) == 'loading utils\n3 3.14 5\n["add", "PI"]\n'


def test_import_is_relative_to_the_importing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.ez").write_text('import "c.ez"\nlet from_b = from_c + 1\n')
    (tmp_path / "a" / "c.ez").write_text("let from_c = 1\n")
    (tmp_path / "main.ez").write_text('import "a/b.ez"\nprint(from_b)\n')
    assert run_file(tmp_path / "main.ez", capsys) == "2\n"


def test_import_cycle_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "x.ez").write_text('import "y.ez"\n')
    (tmp_path / "y.ez").write_text('import "x.ez"\n')
    (tmp_path / "main.ez").write_text('import "x.ez"\n')
    with pytest.raises(EzError) as info:
        asyncio.run(call_async(compile_file(str(tmp_path / "main.ez")).run))
    assert info.value.kind == "ImportError"
    assert "import cycle" in info.value.message
    assert "x.ez → " in info.value.message and "y.ez" in info.value.message


def test_missing_import_file(tmp_path: Path) -> None:
    (tmp_path / "main.ez").write_text('import "nope.ez"\n')
    with pytest.raises(EzError) as info:
        asyncio.run(call_async(compile_file(str(tmp_path / "main.ez")).run))
    assert info.value.kind == "ImportError"
    assert 'cannot import "nope.ez"' in info.value.message


def test_syntax_error_in_an_imported_file_names_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.ez").write_text("let = 1\n")
    (tmp_path / "main.ez").write_text('import "bad.ez"\n')
    with pytest.raises(EzError) as info:
        asyncio.run(call_async(compile_file(str(tmp_path / "main.ez")).run))
    assert info.value.kind == "SyntaxError"
    assert info.value.pos is not None and info.value.pos.file.endswith("bad.ez")


def test_each_run_has_its_own_modules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.ez").write_text('print("run m")\n')
    (tmp_path / "main.ez").write_text('import "m.ez"\n')
    assert run_file(tmp_path / "main.ez", capsys) == "run m\n"
    assert run_file(tmp_path / "main.ez", capsys) == "run m\n"


def test_compile_file_missing() -> None:
    with pytest.raises(EzError) as info:
        compile_file("/nonexistent/x.ez")
    assert "file not found" in info.value.message


# ----------------------------------------------------------------------------- snippets


class FakeView:
    """A stand-in for the Discord ClientView (an EzObject)."""

    def __init__(self) -> None:
        from ezlang.lang.values import EzObject

        class Ws(EzObject):
            def ez_get(self, name: str) -> object:
                return 42 if name == "ping" else None

        class Client(EzObject):
            def ez_get(self, name: str) -> object:
                return {"ws": Ws(), "guild_count": 7}.get(name)

        self.view = Client()


def test_snippet_bare_expression() -> None:
    fn = compile_snippet("client.ws.ping", params=["client"], filename="<broadcast_eval>")
    assert asyncio.run(call_async(fn, FakeView().view)) == 42


def test_snippet_body_with_return() -> None:
    fn = compile_snippet("let n = client.guild_count\nreturn n * 2", params=["client"])
    assert asyncio.run(call_async(fn, FakeView().view)) == 14


def test_snippet_errors_are_easylang_errors() -> None:
    with pytest.raises(EzError) as info:
        compile_snippet("return (", params=["client"])
    assert info.value.kind == "SyntaxError"
    fn = compile_snippet("client.ws.ping.x", params=["client"], filename="<eval>")
    with pytest.raises(EzError) as info2:
        asyncio.run(call_async(fn, FakeView().view))
    assert info2.value.kind == "TypeError"


# ----------------------------------------------------------------------------- REPL


def test_interactive_keeps_state_and_returns_expression_values() -> None:
    ns: dict[str, object] = {}

    def feed(src: str) -> object:
        return asyncio.run(call_async(compile_interactive(src, ns)))

    assert feed("let q = 5") is NO_VALUE
    assert feed("q * 2") == 10
    assert feed("func sq(v) { return v * v }") is NO_VALUE
    assert feed("sq(q) + 1") == 26
    assert feed("q = q + 1\nq") == 6


def test_compile_source_interactive_api_used_by_the_repl() -> None:
    ns: dict[str, object] = {}
    program = compile_source("let a = 2\na * 21", "<repl>", interactive=True)
    assert program.ends_with_expression
    assert asyncio.run(call_async(program.run_in, ns)) == 42
    program = compile_source("let b = a", "<repl>", interactive=True)
    assert not program.ends_with_expression
    asyncio.run(call_async(program.run_in, ns))
    assert ns["b"] == 2


def test_repl_errors_point_into_the_right_input() -> None:
    from ezlang.lang import format_error

    ns: dict[str, object] = {}
    asyncio.run(call_async(compile_interactive("let z = 1", ns)))
    fn = compile_interactive("z +\n  [1]", ns)
    with pytest.raises(EzError) as info:
        asyncio.run(call_async(fn))
    text = format_error(info.value)
    assert "<repl>:1:3" in text and "z +" in text


def test_run_error_helper_smoke() -> None:
    err, _, _ = run_error("x")
    assert err.kind == "NameError"
